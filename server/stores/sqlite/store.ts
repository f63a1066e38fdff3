import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import type { LockRelease, SessionStore } from '../contract';
import { StoreUnavailableError, toStoreUnavailable } from '../errors';
import { liveSession } from '../lazy-expiry';
import { lockRelease } from '../lock-release';
import { silentLogger, type StoreLogger, type StoreOptions } from '../options';
import {
  deserializeSession,
  expiryRule,
  serializeSession,
  sessionUserId,
  type ExpiryRule,
  type SessionData,
} from '../session-data';
import { startSweeper, type Sweeper } from '../sweeper';

/** Options of the SQLite store. */
export interface SqliteSessionStoreOptions extends StoreOptions {
  /** The database file; its folder is created when missing. */
  path: string;
  /** How long an operation waits for another process's lock before failing. Default 1000 ms. */
  busyTimeoutMs?: number;
  /** How often operations check that the file is still the one we opened. Default 1000 ms. */
  fileCheckIntervalMs?: number;
}

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

interface Row {
  data: string;
  expiresAt: number;
}

function prepareStatements(db: Database.Database) {
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

type Statements = ReturnType<typeof prepareStatements>;

interface Handle {
  readonly db: Database.Database;
  readonly statements: Statements;
  // Identity of the file we opened, to notice it being deleted or replaced under us.
  readonly dev: bigint;
  readonly ino: bigint;
}

/** The embedded session store (SESSION_STORE=sqlite): one file, survives restarts, one replica. */
export class SqliteSessionStore implements SessionStore {
  private readonly clock: () => number;
  private readonly logger: StoreLogger;
  private readonly expiresAt: ExpiryRule;
  private readonly sweeper: Sweeper;
  private readonly path: string;
  private readonly busyTimeoutMs: number;
  private readonly fileCheckIntervalMs: number;
  private handle: Handle | undefined;
  // Why `handle` is undefined while the store waits to reopen the file.
  private failure: StoreUnavailableError | undefined;
  private checkedAt: number;
  private lockedOut = false;
  private closed = false;

  /** Opens (creating when missing) the database; throws StoreUnavailableError when it cannot. */
  constructor(options: SqliteSessionStoreOptions) {
    this.clock = options.clock ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.expiresAt = expiryRule(options);
    this.path = nodePath.resolve(options.path);
    this.busyTimeoutMs = options.busyTimeoutMs ?? 1000;
    this.fileCheckIntervalMs = options.fileCheckIntervalMs ?? 1000;
    try {
      this.handle = this.open();
    } catch (err) {
      throw toStoreUnavailable(err, `cannot open the session database at ${this.path}`);
    }
    this.checkedAt = this.clock();
    this.sweeper = startSweeper(() => this.sweep(), options.sweepIntervalMs, this.logger);
  }

  async getSession(sid: string): Promise<SessionData | null> {
    const now = this.clock();
    const row = this.run('read', (s) => s.get.get(sid));
    if (!row) return null;
    return liveSession(row, now, (expiredBy) =>
      this.run('write', (s) =>
        expiredBy === undefined ? s.destroy.run(sid) : s.destroyIfExpired.run(sid, expiredBy),
      ),
    );
  }

  async setSession(sid: string, sess: SessionData): Promise<void> {
    const row = {
      sid,
      userId: sessionUserId(sess),
      expiresAt: this.expiresAt(sess, this.clock()),
      data: serializeSession(sess),
    };
    this.run('write', (s) => s.upsert.run(row));
  }

  async destroySession(sid: string): Promise<boolean> {
    return this.run('write', (s) => s.destroy.run(sid).changes > 0);
  }

  async allSessions(): Promise<Record<string, SessionData>> {
    const rows = this.run('read', (s) => s.all.all(this.clock()));
    const result: Record<string, SessionData> = {};
    for (const row of rows) {
      const sess = deserializeSession(row.data);
      if (sess) result[row.sid] = sess;
    }
    return result;
  }

  async countSessions(): Promise<number> {
    return this.run('read', (s) => s.count.get(this.clock()) ?? 0);
  }

  async clearSessions(): Promise<void> {
    this.run('write', (s) => s.clear.run());
  }

  async destroyUser(userId: string): Promise<number> {
    const now = this.clock();
    // Expired rows of the user go too, but only live sessions count as destroyed.
    const expiries = this.run('write', (s) => s.destroyUser.all(userId));
    return expiries.filter((expiresAt) => expiresAt > now).length;
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    return this.run('write', (s) => s.claim.run(key, now + ttlMs, now).changes === 1);
  }

  async lock(key: string, ttlMs: number): Promise<LockRelease | undefined> {
    const now = this.clock();
    const token = randomUUID();
    const taken = this.run('write', (s) => s.lock.run(key, token, now + ttlMs, now).changes === 1);
    if (!taken) return undefined;
    return lockRelease(() => this.run('write', (s) => s.unlock.run(key, token)), this.logger);
  }

  async sweep(): Promise<number> {
    const now = this.clock();
    return this.run('write', (s, db) =>
      db.transaction(
        () =>
          s.sweep.run(now).changes + s.sweepClaims.run(now).changes + s.sweepLocks.run(now).changes,
      )(),
    );
  }

  async ping(): Promise<void> {
    this.run(
      'write',
      (s, db) => {
        s.begin.run();
        try {
          s.probe.get();
        } finally {
          if (db.inTransaction) s.rollback.run();
        }
      },
      true,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sweeper.stop();
    const handle = this.handle;
    this.handle = undefined;
    closeQuietly(handle);
  }

  private open(): Handle {
    const dir = nodePath.dirname(this.path);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Created private up front: SQLite gives the -wal and -shm files the database file's mode.
    fs.closeSync(fs.openSync(this.path, 'a', 0o600));
    const db = new Database(this.path, { timeout: this.busyTimeoutMs });
    try {
      db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the
      // last commits, which for sessions means a few users log in again.
      db.pragma('synchronous = NORMAL');
      migrate(db);
      const statements = prepareStatements(db);
      const { dev, ino } = fs.statSync(this.path, { bigint: true });
      return { db, statements, dev, ino };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  // Runs one synchronous database step and turns every failure into StoreUnavailableError.
  private run<T>(
    mode: 'read' | 'write',
    step: (statements: Statements, db: Database.Database) => T,
    checkFileNow = false,
  ): T {
    const handle = this.current(checkFileNow);
    try {
      const result = step(handle.statements, handle.db);
      if (mode === 'write' && this.lockedOut) this.setLockedOut(handle, false);
      return result;
    } catch (err) {
      if (isLockError(err) && !this.lockedOut) this.setLockedOut(handle, true);
      throw toStoreUnavailable(err, 'session database is unavailable');
    }
  }

  // better-sqlite3 waits for a lock synchronously, blocking the event loop for busyTimeout.
  // Once a wait has failed, later operations fail at once instead of each blocking again,
  // until a write (or a ping from /readyz) gets through; that keeps the 503s within 2 s.
  private setLockedOut(handle: Handle, lockedOut: boolean): void {
    try {
      handle.db.pragma(`busy_timeout = ${lockedOut ? 0 : this.busyTimeoutMs}`);
      this.lockedOut = lockedOut;
      if (lockedOut) {
        this.logger.warn(
          { path: this.path },
          'session database is locked by another process; failing fast until a write succeeds',
        );
      }
    } catch {
      // The pragma only fails when the connection is gone, which the next operation reports.
    }
  }

  // The open handle, after checking (at most every fileCheckIntervalMs, or now) that the path
  // still names the file we opened: writing on into a deleted or replaced file would lose
  // every session silently.
  private current(checkFileNow: boolean): Handle {
    if (this.closed) throw new StoreUnavailableError('session store is closed');
    const now = this.clock();
    const due =
      checkFileNow || now - this.checkedAt >= this.fileCheckIntervalMs || now < this.checkedAt;
    if (this.handle) {
      if (!due) return this.handle;
      const problem = this.fileProblem(this.handle);
      this.checkedAt = now;
      if (problem === null) return this.handle;
      throw this.abandon(problem);
    }
    // Without a handle, reopening is tried at most once per interval (or on ping), so an
    // unusable path does not cost a filesystem round trip on every request.
    if (!due) throw this.failure ?? new StoreUnavailableError();
    this.checkedAt = now;
    try {
      this.handle = this.open();
    } catch (err) {
      this.failure = toStoreUnavailable(err, 'session database cannot be reopened');
      throw this.failure;
    }
    this.failure = undefined;
    this.lockedOut = false;
    this.logger.warn({ path: this.path }, 'session database reopened');
    return this.handle;
  }

  private fileProblem(handle: Handle): 'deleted' | 'replaced' | null {
    let stat: fs.BigIntStats | undefined;
    try {
      stat = fs.statSync(this.path, { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      // Not proof that the file changed (e.g. EACCES on the folder): fail this operation only.
      throw toStoreUnavailable(err, 'session database file cannot be checked');
    }
    if (!stat) return 'deleted';
    return stat.dev === handle.dev && stat.ino === handle.ino ? null : 'replaced';
  }

  private abandon(problem: 'deleted' | 'replaced'): StoreUnavailableError {
    const handle = this.handle;
    this.handle = undefined;
    closeQuietly(handle);
    // The -wal and -shm beside the path belong to the file we had open; left there, SQLite
    // would replay them into a new or restored file and corrupt it.
    for (const suffix of ['-wal', '-shm']) {
      try {
        fs.rmSync(this.path + suffix, { force: true });
      } catch {
        // Reopening reports what is still wrong.
      }
    }
    const failure = new StoreUnavailableError(`session database file was ${problem} while open`);
    this.failure = failure;
    this.logger.warn({ path: this.path }, failure.message);
    return failure;
  }
}

function migrate(db: Database.Database): void {
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

// By code, not `instanceof Database.SqliteError`: the native addon keeps the error class of the
// first module instance that loaded it, so under several module registries (jest) instanceof lies.
function isLockError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

function closeQuietly(handle: Handle | undefined): void {
  try {
    handle?.db.close();
  } catch {
    // Closing a connection to a vanished file may fail; the handle is dropped either way.
  }
}
