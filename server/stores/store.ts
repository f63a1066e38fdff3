import session from 'express-session';
import type { SessionData } from 'express-session';

declare module 'express-session' {
  interface SessionData {
    /** The Genesys user the session belongs to; also the key of the store's user index. */
    user?: { id: string; name: string };
    /** Vault-sealed JSON of the token set: never plaintext in any store. */
    tokens?: string;
    /** When the access token expires, ms since the epoch. */
    tokenExpiresAt?: number;
    /** When the session was created, ms since the epoch, for the absolute timeout. */
    createdAt?: number;
    /** When the idle expiry last rolled (at most every tenth of the idle timeout), ms epoch. */
    lastSeenAt?: number;
  }
}

/** Thrown (or passed to a store callback) when the session store cannot serve; maps to 503. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  // Deliberately not 'ENOENT': express-session treats a get error with that code as "no session".
  readonly code = 'STORE_UNAVAILABLE';
  readonly status = 503;

  constructor(message = 'session store unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Wraps any failure as a StoreUnavailableError, keeping the original as `cause`. */
export function toStoreUnavailable(err: unknown, message?: string): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  return new StoreUnavailableError(message, { cause: err });
}

/** Minimal logger a store reports background trouble to (pino's Logger fits). */
export interface StoreLogger {
  warn(details: object, message: string): void;
}

/** Gives a lock back; resolves once it is gone or could not be reached (it then expires). */
export type LockRelease = () => Promise<void>;

/** Options every BffSessionStore takes. */
export interface BffSessionStoreOptions {
  /** Lifetime of a session whose cookie has no expiry (browser-session cookie). Default 24 h. */
  defaultTtlMs?: number;
  /** When set, a session never outlives `createdAt + absoluteTimeoutMs` in the store. */
  absoluteTimeoutMs?: number;
  /** How often expired sessions are swept; 0 turns the timer off. Default 60 s. */
  sweepIntervalMs?: number;
  /** Time source in ms since the epoch (tests inject one). Default Date.now. */
  clock?: () => number;
  /** Where background failures (sweeps, file replaced) are reported. Default: nowhere. */
  logger?: StoreLogger;
}

/** Defaults shared by the store implementations. */
export const STORE_DEFAULTS = {
  defaultTtlMs: 24 * 60 * 60 * 1000,
  sweepIntervalMs: 60 * 1000,
} as const;

const silentLogger: StoreLogger = { warn: () => undefined };

/**
 * An express-session store that also indexes sessions by user, so an admin revoke can end all of
 * them. It gives express-session no `touch`: with one, express-session writes the store on every
 * request whose session did not change; the gateway rolls the idle expiry itself, coarsely, as a
 * save (server/session/guard.ts).
 */
export abstract class BffSessionStore extends session.Store {
  protected readonly clock: () => number;
  protected readonly logger: StoreLogger;
  private readonly defaultTtlMs: number;
  private readonly absoluteTimeoutMs: number | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  protected constructor(options: BffSessionStoreOptions = {}) {
    super();
    this.clock = options.clock ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.defaultTtlMs = options.defaultTtlMs ?? STORE_DEFAULTS.defaultTtlMs;
    this.absoluteTimeoutMs = options.absoluteTimeoutMs;
  }

  /** The session, or null when it is missing or expired. */
  abstract getSession(sid: string): Promise<SessionData | null>;
  /** Upserts the session; its expiry and user index entry follow the data. */
  abstract setSession(sid: string, sess: SessionData): Promise<void>;
  /**
   * Removes the session; a missing one is not an error. Resolves with whether a record was there
   * to remove, atomically: of several requests ending one session at once, on any replica, one
   * hears true (so the session's end is counted and logged once).
   */
  abstract destroySession(sid: string): Promise<boolean>;
  /** Every live session by id. */
  abstract allSessions(): Promise<Record<string, SessionData>>;
  /** How many live sessions there are. */
  abstract countSessions(): Promise<number>;
  /** Removes every session. */
  abstract clearSessions(): Promise<void>;
  /** destroy all sessions of the user; resolves with how many were destroyed */
  abstract destroyUser(userId: string): Promise<number>;
  /**
   * Claims `key` for `ttlMs`: true for the first claim, false while that claim lasts. Atomic in
   * the store, so a one-time value (a login state) is good for one use across all replicas.
   */
  abstract claimOnce(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Takes the lock `key` for at most `ttlMs`: resolves with its release function, or undefined
   * while another holder (in this process or any other sharing the store) has it. A lock expires
   * on its own after `ttlMs`, so a holder that crashed cannot wedge it; a release after that
   * leaves a later holder's lock alone. Release never rejects: a lock it cannot remove expires.
   */
  abstract lock(key: string, ttlMs: number): Promise<LockRelease | undefined>;
  /** Removes expired sessions (with their index entries), claims and locks; resolves with how many went. */
  abstract sweep(): Promise<number>;
  /** throws StoreUnavailableError when the store cannot serve (used by /readyz) */
  abstract ping(): Promise<void>;
  /** Stops the sweep timer and releases the store; later calls fail with StoreUnavailableError. */
  abstract close(): Promise<void>;

  override get(sid: string, callback: (err: unknown, sess?: SessionData | null) => void): void {
    this.deliver(() => this.getSession(sid), callback);
  }

  override set(sid: string, sess: SessionData, callback?: (err?: unknown) => void): void {
    this.deliver(() => this.setSession(sid, sess), callback);
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.deliver(() => this.destroySession(sid), callback);
  }

  override all(
    callback: (err: unknown, sessions?: Record<string, SessionData> | null) => void,
  ): void {
    this.deliver(() => this.allSessions(), callback);
  }

  override length(callback: (err: unknown, length?: number) => void): void {
    this.deliver(() => this.countSessions(), callback);
  }

  override clear(callback?: (err?: unknown) => void): void {
    this.deliver(() => this.clearSessions(), callback);
  }

  /**
   * Runs a store operation for a callback-style caller (express-session): the callback runs
   * exactly once, on a later tick, and every failure reaches it as a StoreUnavailableError.
   */
  protected deliver<T>(
    operation: () => Promise<T>,
    callback: ((err: unknown, value?: T) => void) | undefined,
  ): void {
    deliver(operation, callback);
  }

  /** When the stored session must expire: its cookie's expiry, else now + the default ttl. */
  protected expiresAtOf(sess: SessionData): number {
    const now = this.clock();
    let expiresAt = cookieExpiresAt(sess) ?? now + this.defaultTtlMs;
    if (this.absoluteTimeoutMs !== undefined && typeof sess.createdAt === 'number') {
      expiresAt = Math.min(expiresAt, sess.createdAt + this.absoluteTimeoutMs);
    }
    return expiresAt;
  }

  /** Starts the periodic sweep; failures are logged, never thrown. */
  protected startSweeping(intervalMs: number | undefined): void {
    const every = intervalMs ?? STORE_DEFAULTS.sweepIntervalMs;
    if (every <= 0) return;
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((err: unknown) => {
        this.logger.warn({ err }, 'session store sweep failed');
      });
    }, every);
    // The sweep alone must not keep the process alive (graceful shutdown, jest).
    this.sweepTimer.unref();
  }

  protected stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }
}

/** The user a session belongs to, or null for a session without a user. */
export function sessionUserId(sess: SessionData): string | null {
  const id: unknown = sess.user?.id;
  return typeof id === 'string' && id !== '' ? id : null;
}

/** The session cookie's expiry in ms since the epoch, when it has one. */
export function cookieExpiresAt(sess: SessionData): number | null {
  // A live Session holds a Date; data that went through JSON (or a test) may hold a string.
  const raw: unknown = (sess.cookie as { expires?: unknown } | undefined)?.expires;
  if (raw === null || raw === undefined) return null;
  const ms =
    raw instanceof Date
      ? raw.getTime()
      : typeof raw === 'string' || typeof raw === 'number'
        ? new Date(raw).getTime()
        : NaN;
  return Number.isFinite(ms) ? ms : null;
}

/** The stored form of a session (JSON, as express-session's own MemoryStore keeps it). */
export function serializeSession(sess: SessionData): string {
  return JSON.stringify(sess);
}

/** Parses a stored session; null for data that cannot be one (treated as no session). */
export function deserializeSession(json: string): SessionData | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  // express-session reads sess.cookie on load; without one it would throw on every request.
  if (typeof value !== 'object' || value === null) return null;
  const cookie = (value as { cookie?: unknown }).cookie;
  if (typeof cookie !== 'object' || cookie === null) return null;
  return value as SessionData;
}

// Runs a store operation for a callback-style caller: the callback runs exactly once, on a
// later tick (never inside the operation or its promise chain, so a throwing callback cannot
// be mistaken for a store failure), and every failure reaches it as a StoreUnavailableError.
function deliver<T>(
  operation: () => Promise<T>,
  callback: ((err: unknown, value?: T) => void) | undefined,
): void {
  let pending: Promise<T>;
  try {
    pending = operation();
  } catch (err) {
    pending = Promise.reject(err);
  }
  pending.then(
    (value) => {
      if (callback) process.nextTick(callback, null, value);
    },
    (err: unknown) => {
      if (callback) process.nextTick(callback, toStoreUnavailable(err));
    },
  );
}
