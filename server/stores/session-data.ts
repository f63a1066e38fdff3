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
    /** A short summary of the browser that logged in (`Chrome 156 on Linux`), for "my sessions". */
    userAgent?: string;
    /** ms epoch: the last `dateTokenIdles` Genesys reported for the token, if any. */
    tokenIdlesAt?: number;
    /**
     * Set on a popup login waiting for its frame (server/session/handoff.ts), never on a session
     * a browser holds: the frame binding's digest, and when the code lapses (ms epoch).
     */
    handoff?: { binding: string; expiresAt: number };
  }
}

export type { SessionData };

/** How long a store keeps a session. */
export interface SessionLifetimes {
  /** Lifetime of a session whose cookie has no expiry (browser-session cookie). Default 24 h. */
  defaultTtlMs?: number;
  /** When set, a session never outlives `createdAt + absoluteTimeoutMs` in the store. */
  absoluteTimeoutMs?: number;
}

const DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/** When a stored session expires, given the time it is stored at (ms since the epoch). */
export type ExpiryRule = (sess: SessionData, now: number) => number;

/**
 * The expiry rule of a store: a session expires at its cookie's expiry, else `now` + the default
 * ttl; never past its createdAt + the absolute timeout, when one is set.
 */
export function expiryRule(lifetimes: SessionLifetimes): ExpiryRule {
  const defaultTtlMs = lifetimes.defaultTtlMs ?? DEFAULT_TTL_MS;
  const { absoluteTimeoutMs } = lifetimes;
  return (sess, now) => {
    let expiresAt = cookieExpiresAt(sess) ?? now + defaultTtlMs;
    if (absoluteTimeoutMs !== undefined && typeof sess.createdAt === 'number') {
      expiresAt = Math.min(expiresAt, sess.createdAt + absoluteTimeoutMs);
    }
    return expiresAt;
  };
}

/** The user a session belongs to, or null for a session without a user. */
export function sessionUserId(sess: SessionData): string | null {
  const id: unknown = sess.user?.id;
  return typeof id === 'string' && id !== '' ? id : null;
}

/** The session cookie's expiry in ms since the epoch, when it has one. */
function cookieExpiresAt(sess: SessionData): number | null {
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
