import { randomUUID } from 'node:crypto';
import type { LockRelease, SessionStore } from './contract';
import { StoreUnavailableError } from './errors';
import { silentLogger, type StoreOptions } from './options';
import { deserializeSession, expiryRule, serializeSession, sessionUserId } from './session-data';
import type { ExpiryRule, SessionData } from './session-data';
import { startSweeper, type Sweeper } from './sweeper';
import { localBroadcast } from './local-broadcast';

/** One session as the memory store holds it. */
export interface MemoryEntry {
  // Kept as JSON so neither the caller of set nor the caller of get can mutate stored state.
  readonly json: string;
  readonly expiresAt: number;
  readonly userId: string | null;
}

/** What a memory store holds: the maps it keeps its state in. */
export interface MemoryBacking {
  readonly sessions: Map<string, MemoryEntry>;
  // The user index is updated in the same synchronous step as `sessions`, so they never drift.
  readonly sidsByUser: Map<string, Set<string>>;
  readonly claims: Map<string, number>;
  readonly locks: Map<string, { readonly token: string; readonly until: number }>;
}

/** Empty maps for a memory store. */
export function memoryBacking(): MemoryBacking {
  return { sessions: new Map(), sidsByUser: new Map(), claims: new Map(), locks: new Map() };
}

/** Options of the in-memory store (the shared store options). */
export interface MemorySessionStoreOptions extends StoreOptions {
  /** The maps to keep the state in, for a caller that looks at what the store holds (tests). */
  backing?: MemoryBacking;
}

/** A single-process session store on a Map, for tests and SESSION_STORE=memory. */
export class MemorySessionStore implements SessionStore {
  /** Session events stay in this process: nobody else shares this store. */
  readonly broadcast = localBroadcast();
  private readonly clock: () => number;
  private readonly expiresAt: ExpiryRule;
  private readonly sweeper: Sweeper;
  private readonly sessions: Map<string, MemoryEntry>;
  private readonly sidsByUser: Map<string, Set<string>>;
  private readonly claims: Map<string, number>;
  private readonly locks: Map<string, { readonly token: string; readonly until: number }>;
  private closed = false;

  constructor(options: MemorySessionStoreOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.expiresAt = expiryRule(options);
    const backing = options.backing ?? memoryBacking();
    this.sessions = backing.sessions;
    this.sidsByUser = backing.sidsByUser;
    this.claims = backing.claims;
    this.locks = backing.locks;
    this.sweeper = startSweeper(
      () => this.sweep(),
      options.sweepIntervalMs,
      options.logger ?? silentLogger,
    );
  }

  async getSession(sid: string): Promise<SessionData | null> {
    this.assertOpen();
    const entry = this.liveEntry(sid, this.clock());
    if (!entry) return null;
    const sess = deserializeSession(entry.json);
    if (!sess) this.remove(sid);
    return sess;
  }

  async setSession(sid: string, sess: SessionData): Promise<void> {
    this.assertOpen();
    const entry: MemoryEntry = {
      json: serializeSession(sess),
      expiresAt: this.expiresAt(sess, this.clock()),
      userId: sessionUserId(sess),
    };
    this.remove(sid);
    this.sessions.set(sid, entry);
    if (entry.userId !== null) {
      let sids = this.sidsByUser.get(entry.userId);
      if (!sids) {
        sids = new Set();
        this.sidsByUser.set(entry.userId, sids);
      }
      sids.add(sid);
    }
  }

  async destroySession(sid: string): Promise<boolean> {
    this.assertOpen();
    return this.remove(sid);
  }

  async allSessions(): Promise<Record<string, SessionData>> {
    this.assertOpen();
    const now = this.clock();
    const result: Record<string, SessionData> = {};
    for (const sid of [...this.sessions.keys()]) {
      const entry = this.liveEntry(sid, now);
      const sess = entry && deserializeSession(entry.json);
      if (sess) result[sid] = sess;
    }
    return result;
  }

  async countSessions(): Promise<number> {
    this.assertOpen();
    const now = this.clock();
    let count = 0;
    for (const entry of this.sessions.values()) if (entry.expiresAt > now) count += 1;
    return count;
  }

  async clearSessions(): Promise<void> {
    this.assertOpen();
    this.sessions.clear();
    this.sidsByUser.clear();
  }

  async sessionsOfUser(userId: string): Promise<Record<string, SessionData>> {
    this.assertOpen();
    const now = this.clock();
    const result: Record<string, SessionData> = {};
    for (const sid of [...(this.sidsByUser.get(userId) ?? [])]) {
      const entry = this.liveEntry(sid, now);
      const sess = entry && deserializeSession(entry.json);
      if (sess) result[sid] = sess;
    }
    return result;
  }

  async destroyUser(userId: string): Promise<number> {
    this.assertOpen();
    const now = this.clock();
    let destroyed = 0;
    for (const sid of [...(this.sidsByUser.get(userId) ?? [])]) {
      const entry = this.sessions.get(sid);
      if (entry && entry.expiresAt > now) destroyed += 1;
      this.remove(sid);
    }
    return destroyed;
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const now = this.clock();
    const until = this.claims.get(key);
    if (until !== undefined && until > now) return false;
    this.claims.set(key, now + ttlMs);
    return true;
  }

  async lock(key: string, ttlMs: number): Promise<LockRelease | undefined> {
    this.assertOpen();
    const now = this.clock();
    const held = this.locks.get(key);
    if (held !== undefined && held.until > now) return undefined;
    // The token tells this holder's lock from a later one taken after this one expired.
    const token = randomUUID();
    this.locks.set(key, { token, until: now + ttlMs });
    return async () => {
      if (this.locks.get(key)?.token === token) this.locks.delete(key);
    };
  }

  async sweep(): Promise<number> {
    this.assertOpen();
    const now = this.clock();
    let removed = 0;
    for (const [sid, entry] of [...this.sessions]) {
      if (entry.expiresAt <= now) {
        this.remove(sid);
        removed += 1;
      }
    }
    for (const [key, until] of [...this.claims]) {
      if (until <= now) {
        this.claims.delete(key);
        removed += 1;
      }
    }
    for (const [key, { until }] of [...this.locks]) {
      if (until <= now) {
        this.locks.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sweeper.stop();
    this.sessions.clear();
    this.sidsByUser.clear();
    this.claims.clear();
    this.locks.clear();
  }

  // The entry when it is live; an expired one is deleted on the way (lazy expiry).
  private liveEntry(sid: string, now: number): MemoryEntry | undefined {
    const entry = this.sessions.get(sid);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(sid);
      return undefined;
    }
    return entry;
  }

  /** Removes the session and its index entry; false when there was none. */
  private remove(sid: string): boolean {
    const entry = this.sessions.get(sid);
    if (!entry) return false;
    this.sessions.delete(sid);
    if (entry.userId === null) return true;
    const sids = this.sidsByUser.get(entry.userId);
    if (!sids) return true;
    sids.delete(sid);
    // Empty sets go too, or every user who ever logged in would stay in the index.
    if (sids.size === 0) this.sidsByUser.delete(entry.userId);
    return true;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('session store is closed');
  }
}
