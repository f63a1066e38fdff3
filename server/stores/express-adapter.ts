import session from 'express-session';
import type { SessionRepository } from './contract';
import { toStoreUnavailable } from './errors';
import type { SessionData } from './session-data';

/**
 * The store as express-session takes it: the callback methods it calls, over the store's
 * promises. It offers no `touch`: with one, express-session writes the store on every request
 * whose session did not change; the gateway rolls the idle expiry itself, coarsely, as a save
 * (server/session/guard.ts).
 */
export function expressSessionStore(store: SessionRepository): ExpressSessionStore {
  return new ExpressSessionStore(store);
}

/** A session.Store whose optional methods (all, length, clear) are all there; no touch. */
class ExpressSessionStore extends session.Store {
  private readonly store: SessionRepository;
  // The last operation's settling, so that callbacks run in call order (see deliver).
  private delivered: Promise<unknown> = Promise.resolve();

  constructor(store: SessionRepository) {
    super();
    this.store = store;
  }

  override get(sid: string, callback: (err: unknown, sess?: SessionData | null) => void): void {
    this.deliver(() => this.store.getSession(sid), callback);
  }

  override set(sid: string, sess: SessionData, callback?: (err?: unknown) => void): void {
    this.deliver(() => this.store.setSession(sid, sess), callback);
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.deliver(() => this.store.destroySession(sid), callback);
  }

  override all(
    callback: (err: unknown, sessions?: Record<string, SessionData> | null) => void,
  ): void {
    this.deliver(() => this.store.allSessions(), callback);
  }

  override length(callback: (err: unknown, length?: number) => void): void {
    this.deliver(() => this.store.countSessions(), callback);
  }

  override clear(callback?: (err?: unknown) => void): void {
    this.deliver(() => this.store.clearSessions(), callback);
  }

  /**
   * Runs a store operation for express-session: the callback runs exactly once, on a later tick
   * (never inside the operation or its promise chain, so a throwing callback cannot be mistaken
   * for a store failure), in call order, and every failure reaches it as a StoreUnavailableError.
   */
  private deliver<T>(
    operation: () => Promise<T>,
    callback: ((err: unknown, value?: T) => void) | undefined,
  ): void {
    let settled: Promise<T>;
    try {
      // Started at once, so commands reach a networked store (Redis) in call order.
      const pending = operation();
      // Handled here too: a failure must not count as unhandled while earlier operations run.
      pending.catch(() => undefined);
      // Redis answers one connection's commands in order, but an operation's promise settles
      // some microtasks after its reply, more for longer chains: without this queue, callbacks
      // of operations answered in one socket read could run out of order (a set's after a
      // later get's).
      settled = this.delivered.then(() => pending);
      this.delivered = settled.catch(() => undefined);
    } catch (err) {
      settled = Promise.reject(err);
    }
    settled.then(
      (value) => {
        if (callback) process.nextTick(callback, null, value);
      },
      (err: unknown) => {
        if (callback) process.nextTick(callback, toStoreUnavailable(err));
      },
    );
  }
}

export type { ExpressSessionStore };
