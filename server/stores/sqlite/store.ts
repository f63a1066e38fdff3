import { randomUUID } from 'node:crypto';
import type { LockRelease, SessionStore } from '../contract';
import { liveSession } from '../lazy-expiry';
import { lockRelease } from '../lock-release';
import { silentLogger, type StoreLogger, type StoreOptions } from '../options';
import { deserializeSession, expiryRule, serializeSession, sessionUserId } from '../session-data';
import type { ExpiryRule, SessionData } from '../session-data';
import { startSweeper, type Sweeper } from '../sweeper';
import { migrate } from './schema';
import { prepareStatements, type Statements } from './statements';
import { WatchedDatabase, type SqliteFileOptions } from './watchdog';
import { localBroadcast } from '../local-broadcast';

/** Options of the SQLite store. */
export interface SqliteSessionStoreOptions extends StoreOptions, SqliteFileOptions {}

/** The embedded session store (SESSION_STORE=sqlite): one file, survives restarts, one replica. */
export class SqliteSessionStore implements SessionStore {
  /** Session events stay in this process: nobody else shares this store. */
  readonly broadcast = localBroadcast();
  private readonly clock: () => number;
  private readonly logger: StoreLogger;
  private readonly expiresAt: ExpiryRule;
  private readonly database: WatchedDatabase<Statements>;
  private readonly sweeper: Sweeper;

  /** Opens (creating when missing) the database; throws StoreUnavailableError when it cannot. */
  constructor(options: SqliteSessionStoreOptions) {
    this.clock = options.clock ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.expiresAt = expiryRule(options);
    this.database = new WatchedDatabase({
      ...options,
      clock: this.clock,
      logger: this.logger,
      setUp: (db) => {
        migrate(db);
        return prepareStatements(db);
      },
    });
    this.sweeper = startSweeper(() => this.sweep(), options.sweepIntervalMs, this.logger);
  }

  async getSession(sid: string): Promise<SessionData | null> {
    const now = this.clock();
    const row = this.database.run('read', (s) => s.get.get(sid));
    if (!row) return null;
    return liveSession(row, now, (expiredBy) =>
      this.database.run('write', (s) =>
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
    this.database.run('write', (s) => s.upsert.run(row));
  }

  async destroySession(sid: string): Promise<boolean> {
    return this.database.run('write', (s) => s.destroy.run(sid).changes > 0);
  }

  async allSessions(): Promise<Record<string, SessionData>> {
    const rows = this.database.run('read', (s) => s.all.all(this.clock()));
    const result: Record<string, SessionData> = {};
    for (const row of rows) {
      const sess = deserializeSession(row.data);
      if (sess) result[row.sid] = sess;
    }
    return result;
  }

  async countSessions(): Promise<number> {
    return this.database.run('read', (s) => s.count.get(this.clock()) ?? 0);
  }

  async clearSessions(): Promise<void> {
    this.database.run('write', (s) => s.clear.run());
  }

  async sessionsOfUser(userId: string): Promise<Record<string, SessionData>> {
    const rows = this.database.run('read', (s) => s.ofUser.all(userId, this.clock()));
    const result: Record<string, SessionData> = {};
    for (const row of rows) {
      const sess = deserializeSession(row.data);
      if (sess) result[row.sid] = sess;
    }
    return result;
  }

  async destroyUser(userId: string): Promise<number> {
    const now = this.clock();
    // Expired rows of the user go too, but only live sessions count as destroyed.
    const expiries = this.database.run('write', (s) => s.destroyUser.all(userId));
    return expiries.filter((expiresAt) => expiresAt > now).length;
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    return this.database.run('write', (s) => s.claim.run(key, now + ttlMs, now).changes === 1);
  }

  async lock(key: string, ttlMs: number): Promise<LockRelease | undefined> {
    const now = this.clock();
    const token = randomUUID();
    const taken = this.database.run(
      'write',
      (s) => s.lock.run(key, token, now + ttlMs, now).changes === 1,
    );
    if (!taken) return undefined;
    return lockRelease(
      () => this.database.run('write', (s) => s.unlock.run(key, token)),
      this.logger,
    );
  }

  async sweep(): Promise<number> {
    const now = this.clock();
    return this.database.run('write', (s, db) =>
      db.transaction(
        () =>
          s.sweep.run(now).changes + s.sweepClaims.run(now).changes + s.sweepLocks.run(now).changes,
      )(),
    );
  }

  async ping(): Promise<void> {
    this.database.run(
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
    this.sweeper.stop();
    this.database.close();
  }
}
