import type Database from 'better-sqlite3';

const SCHEMA_VERSION = 1;

// The user index is a column of the session row, so logout, expiry and sweeps cannot leave
// stale index entries behind; (user_id, expires_at) serves destroyUser, expires_at the sweep.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY NOT NULL,
    user_id TEXT,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, expires_at);
  CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
  CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS claims_by_expiry ON claims (expires_at);
`;

// Added after schema 1 without a version bump: it is purely additive, so a database that has it
// still opens in a build that does not know it (a rollback keeps working).
const LOCKS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS locks (
    key TEXT PRIMARY KEY NOT NULL,
    token TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS locks_by_expiry ON locks (expires_at);
`;

/** Brings a database to this build's schema; throws for one written by a newer schema. */
export function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`session database schema ${version} is newer than this gateway supports`);
  }
  if (version !== SCHEMA_VERSION) {
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }
  db.exec(LOCKS_SCHEMA);
}
