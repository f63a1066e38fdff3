import type { SessionData } from './session-data';

/**
 * Where sessions live, indexed by user so that an admin revoke can end all of them. Every
 * operation fails with a StoreUnavailableError (./errors) when the store cannot serve.
 */
export interface SessionRepository {
  /** The session, or null when it is missing or expired. */
  getSession(sid: string): Promise<SessionData | null>;
  /** Upserts the session; its expiry and user index entry follow the data. */
  setSession(sid: string, sess: SessionData): Promise<void>;
  /**
   * Removes the session; a missing one is not an error. Resolves with whether a record was there
   * to remove, atomically: of several requests ending one session at once, on any replica, one
   * hears true (so the session's end is counted and logged once).
   */
  destroySession(sid: string): Promise<boolean>;
  /** Every live session by id. */
  allSessions(): Promise<Record<string, SessionData>>;
  /** How many live sessions there are. */
  countSessions(): Promise<number>;
  /** Removes every session. */
  clearSessions(): Promise<void>;
  /** The user's live sessions by id (for a user's list of their own sessions). */
  sessionsOfUser(userId: string): Promise<Record<string, SessionData>>;
  /** destroy all sessions of the user; resolves with how many were destroyed */
  destroyUser(userId: string): Promise<number>;
  /** Removes expired sessions (with their index entries), claims and locks; resolves with how many went. */
  sweep(): Promise<number>;
  /** throws StoreUnavailableError when the store cannot serve (used by /readyz) */
  ping(): Promise<void>;
  /** Stops the sweep timer and releases the store; later calls fail with StoreUnavailableError. */
  close(): Promise<void>;
}

/** Gives a lock back; resolves once it is gone or could not be reached (it then expires). */
export type LockRelease = () => Promise<void>;

/** One-time claims and locks, shared by every process on the same store. */
export interface Coordination {
  /**
   * Claims `key` for `ttlMs`: true for the first claim, false while that claim lasts. Atomic in
   * the store, so a one-time value (a login state) is good for one use across all replicas.
   */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Takes the lock `key` for at most `ttlMs`: resolves with its release function, or undefined
   * while another holder (in this process or any other sharing the store) has it. A lock expires
   * on its own after `ttlMs`, so a holder that crashed cannot wedge it; a release after that
   * leaves a later holder's lock alone. Release never rejects: a lock it cannot remove expires.
   */
  lock(key: string, ttlMs: number): Promise<LockRelease | undefined>;
}

/**
 * Messages to every process sharing the store, this one included (session events): best
 * effort, at most once, in order per publisher. Memory and SQLite serve one process, so theirs
 * stays in it; Redis carries them between replicas.
 */
export interface Broadcast {
  publish(message: string): Promise<void>;
  /** Calls `listener` with every message published from now on, on any process. */
  subscribe(listener: (message: string) => void): Promise<void>;
}

/** What each backend (memory, SQLite, Redis) implements. */
export type SessionStore = SessionRepository & Coordination & { readonly broadcast: Broadcast };
