import type Database from 'better-sqlite3';

interface Row {
  data: string;
  expiresAt: number;
}

/** The statements the store runs, prepared on one connection. */
export function prepareStatements(db: Database.Database) {
  return {
    get: db.prepare<[string], Row>(
      'SELECT data, expires_at AS expiresAt FROM sessions WHERE sid = ?',
    ),
    upsert: db.prepare<[{ sid: string; userId: string | null; expiresAt: number; data: string }]>(
      `INSERT INTO sessions (sid, user_id, expires_at, data) VALUES (@sid, @userId, @expiresAt, @data)
       ON CONFLICT (sid) DO UPDATE SET
         user_id = excluded.user_id, expires_at = excluded.expires_at, data = excluded.data`,
    ),
    destroy: db.prepare<[string]>('DELETE FROM sessions WHERE sid = ?'),
    destroyIfExpired: db.prepare<[string, number]>(
      'DELETE FROM sessions WHERE sid = ? AND expires_at <= ?',
    ),
    all: db.prepare<[number], { sid: string; data: string }>(
      'SELECT sid, data FROM sessions WHERE expires_at > ?',
    ),
    ofUser: db.prepare<[string, number], { sid: string; data: string }>(
      'SELECT sid, data FROM sessions WHERE user_id = ? AND expires_at > ?',
    ),
    count: db
      .prepare<[number], number>('SELECT COUNT(*) FROM sessions WHERE expires_at > ?')
      .pluck(),
    clear: db.prepare<[]>('DELETE FROM sessions'),
    destroyUser: db
      .prepare<[string], number>('DELETE FROM sessions WHERE user_id = ? RETURNING expires_at')
      .pluck(),
    sweep: db.prepare<[number]>('DELETE FROM sessions WHERE expires_at <= ?'),
    // One statement, so the claim is atomic: a new key inserts, an expired claim is renewed,
    // a live claim changes nothing (0 rows).
    claim: db.prepare<[string, number, number]>(
      `INSERT INTO claims (key, expires_at) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE claims.expires_at <= ?`,
    ),
    sweepClaims: db.prepare<[number]>('DELETE FROM claims WHERE expires_at <= ?'),
    // Atomic like the claim, and across processes sharing the file: an expired lock is taken
    // over with a new token, a live one changes nothing (0 rows).
    lock: db.prepare<[string, string, number, number]>(
      `INSERT INTO locks (key, token, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
       WHERE locks.expires_at <= ?`,
    ),
    unlock: db.prepare<[string, string]>('DELETE FROM locks WHERE key = ? AND token = ?'),
    sweepLocks: db.prepare<[number]>('DELETE FROM locks WHERE expires_at <= ?'),
    // BEGIN IMMEDIATE takes the write lock, so ping also notices a database another process
    // keeps locked, which a plain SELECT would not in WAL mode.
    begin: db.prepare<[]>('BEGIN IMMEDIATE'),
    probe: db.prepare<[]>('SELECT 1 FROM sessions LIMIT 1'),
    rollback: db.prepare<[]>('ROLLBACK'),
  };
}

/** The store's prepared statements. */
export type Statements = ReturnType<typeof prepareStatements>;
