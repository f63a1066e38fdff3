import { deserializeSession, type SessionData } from './session-data';

/** A session record as a store read it: the stored JSON and its expiry, ms since the epoch. */
export interface StoredSession {
  readonly data: string;
  readonly expiresAt: number;
}

/**
 * The session in a record just read, or null when the record is expired or holds no session;
 * such a record is removed on the way (lazy expiry). `remove` gets `now` for an expired record
 * (to remove it only while it is still expired by then) and undefined for an unreadable one.
 */
export async function liveSession(
  record: StoredSession,
  now: number,
  remove: (expiredBy: number | undefined) => unknown,
): Promise<SessionData | null> {
  if (record.expiresAt <= now) {
    await removeQuietly(() => remove(now));
    return null;
  }
  const sess = deserializeSession(record.data);
  if (!sess) await removeQuietly(() => remove(undefined));
  return sess;
}

// A failure here must not fail the read that found the record expired.
async function removeQuietly(remove: () => unknown): Promise<void> {
  try {
    await remove();
  } catch {
    // The sweep removes the record later.
  }
}
