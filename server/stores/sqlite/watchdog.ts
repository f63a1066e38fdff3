import fs from 'node:fs';
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import { StoreUnavailableError, toStoreUnavailable } from '../errors';
import type { StoreLogger } from '../options';

/** Where the database lives and how long to wait for it. */
export interface SqliteFileOptions {
  /** The database file; its folder is created when missing. */
  path: string;
  /** How long an operation waits for another process's lock before failing. Default 1000 ms. */
  busyTimeoutMs?: number;
  /** How often operations check that the file is still the one we opened. Default 1000 ms. */
  fileCheckIntervalMs?: number;
}

interface Handle<S> {
  readonly db: Database.Database;
  readonly statements: S;
  // Identity of the file we opened, to notice it being deleted or replaced under us.
  readonly dev: bigint;
  readonly ino: bigint;
}

/**
 * The connection to the database file, watched: every failure is a StoreUnavailableError; a file
 * deleted or replaced under the running process is let go of (with its -wal and -shm) and
 * reopened; while another process holds the lock, operations fail fast instead of each blocking
 * the event loop. `setUp` prepares each connection it opens (schema and statements).
 */
export class WatchedDatabase<S> {
  private readonly path: string;
  private readonly busyTimeoutMs: number;
  private readonly fileCheckIntervalMs: number;
  private readonly clock: () => number;
  private readonly logger: StoreLogger;
  private readonly setUp: (db: Database.Database) => S;
  private handle: Handle<S> | undefined;
  // Why `handle` is undefined while the store waits to reopen the file.
  private failure: StoreUnavailableError | undefined;
  private checkedAt: number;
  private lockedOut = false;
  private closed = false;

  /** Opens (creating when missing) the database; throws StoreUnavailableError when it cannot. */
  constructor(
    options: SqliteFileOptions & {
      clock: () => number;
      logger: StoreLogger;
      setUp: (db: Database.Database) => S;
    },
  ) {
    this.path = nodePath.resolve(options.path);
    this.busyTimeoutMs = options.busyTimeoutMs ?? 1000;
    this.fileCheckIntervalMs = options.fileCheckIntervalMs ?? 1000;
    this.clock = options.clock;
    this.logger = options.logger;
    this.setUp = options.setUp;
    try {
      this.handle = this.open();
    } catch (err) {
      throw toStoreUnavailable(err, `cannot open the session database at ${this.path}`);
    }
    this.checkedAt = this.clock();
  }

  /**
   * Runs one synchronous database step and turns every failure into StoreUnavailableError.
   * `checkFileNow` looks at the file first whatever the interval (ping).
   */
  run<T>(
    mode: 'read' | 'write',
    step: (statements: S, db: Database.Database) => T,
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

  /** Closes the connection; later steps fail with StoreUnavailableError. */
  close(): void {
    this.closed = true;
    const handle = this.handle;
    this.handle = undefined;
    closeQuietly(handle);
  }

  private open(): Handle<S> {
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
      const statements = this.setUp(db);
      const { dev, ino } = fs.statSync(this.path, { bigint: true });
      return { db, statements, dev, ino };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  // better-sqlite3 waits for a lock synchronously, blocking the event loop for busyTimeout.
  // Once a wait has failed, later operations fail at once instead of each blocking again,
  // until a write (or a ping from /readyz) gets through; that keeps the 503s within 2 s.
  private setLockedOut(handle: Handle<S>, lockedOut: boolean): void {
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
  private current(checkFileNow: boolean): Handle<S> {
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

  private fileProblem(handle: Handle<S>): 'deleted' | 'replaced' | null {
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

// By code, not `instanceof Database.SqliteError`: the native addon keeps the error class of the
// first module instance that loaded it, so under several module registries (jest) instanceof lies.
function isLockError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

function closeQuietly(handle: Handle<unknown> | undefined): void {
  try {
    handle?.db.close();
  } catch {
    // Closing a connection to a vanished file may fail; the handle is dropped either way.
  }
}
