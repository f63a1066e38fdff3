import { randomUUID } from 'node:crypto';
import type { Broadcast, LockRelease, SessionStore } from '../contract';
import { liveSession } from '../lazy-expiry';
import { lockRelease } from '../lock-release';
import { silentLogger, type StoreLogger, type StoreOptions } from '../options';
import { deserializeSession, expiryRule, serializeSession, sessionUserId } from '../session-data';
import type { ExpiryRule, SessionData } from '../session-data';
import { startSweeper, type Sweeper } from '../sweeper';
import { RedisConnection, type RedisConnectionOptions, type Reply } from './connection';
import { groupBySlot } from './key-slot';
import { RedisKeys } from './keys';
import {
  CLAIM,
  DESTROY_SESSION,
  END_USER_SESSIONS,
  LOCK,
  PUBLISH,
  type Script,
  SET_SESSION,
  SWEEP_EXPIRING,
  SWEEP_SESSIONS,
  UNLOCK,
} from './scripts';

/** Options of the Redis store. */
export interface RedisSessionStoreOptions extends StoreOptions, RedisConnectionOptions {
  /** Put before every key, so several gateways (or tests) can share one Redis. Default `tokens-bff:`. */
  keyPrefix?: string;
  /**
   * How long Redis keeps a key past its expiry by the store's clock. Expiry is decided by that
   * clock on every read, as in the other stores; Redis's own TTL only collects what no one reads
   * again, and this margin keeps it from dropping a key that replicas with slightly later clocks
   * (or a sweep about to count it) still see as live. Default 10000 ms.
   */
  expiryGraceMs?: number;
}

/** Keys per SCAN/SSCAN page: each page is one short script, so Redis is never blocked for long. */
const PAGE = 200;

/**
 * The session store for many replicas (SESSION_STORE=redis), on one Redis, a primary found
 * through Sentinels, or a Cluster (docs/redis.md). Every operation fails with
 * StoreUnavailableError within about `commandTimeoutMs` while Redis is down or slow (no command
 * is queued for later); the connection comes back by itself.
 */
export class RedisSessionStore implements SessionStore {
  /** Session events between the replicas, over Redis pub/sub. */
  readonly broadcast: Broadcast = {
    publish: async (message) => {
      await this.redis.eval(PUBLISH, [this.keys.channel], [message]);
    },
    subscribe: (listener) => this.redis.subscribe(this.keys.channel, listener),
  };
  private readonly clock: () => number;
  private readonly logger: StoreLogger;
  private readonly expiresAt: ExpiryRule;
  private readonly redis: RedisConnection;
  private readonly keys: RedisKeys;
  private readonly expiryGraceMs: number;
  private readonly sweepIntervalMs: number | undefined;
  private sweeper: Sweeper | undefined;

  /** Builds the store; nothing is connected until `connect()`. */
  constructor(options: RedisSessionStoreOptions) {
    this.clock = options.clock ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.expiresAt = expiryRule(options);
    this.keys = new RedisKeys(options.keyPrefix ?? 'tokens-bff:');
    this.expiryGraceMs = options.expiryGraceMs ?? 10_000;
    this.sweepIntervalMs = options.sweepIntervalMs;
    this.redis = new RedisConnection(options, this.logger);
  }

  /**
   * Connects, retrying for up to `startupTimeoutMs`; rejects with a StoreUnavailableError whose
   * message names the Redis (never its password) when it cannot. Starts the sweep timer.
   */
  async connect(): Promise<void> {
    await this.redis.connect();
    this.sweeper = startSweeper(() => this.sweep(), this.sweepIntervalMs, this.logger);
  }

  async getSession(sid: string): Promise<SessionData | null> {
    const now = this.clock();
    const [data, exp] = (await this.redis.call([
      'HMGET',
      this.keys.session(sid),
      'data',
      'exp',
    ])) as [string | null, string | null];
    if (data === null || exp === null) return null;
    // A session left behind is also dropped by Redis a grace period after its expiry.
    return liveSession({ data, expiresAt: Number(exp) }, now, (expiredBy) =>
      this.destroy(sid, expiredBy === undefined ? '' : String(expiredBy)),
    );
  }

  async setSession(sid: string, sess: SessionData): Promise<void> {
    const expiresAt = this.expiresAt(sess, this.clock());
    const userId = sessionUserId(sess) ?? '';
    const before = (await this.redis.eval(
      SET_SESSION,
      [this.keys.session(sid), this.keys.userOfSession(sid, userId)],
      [sid, serializeSession(sess), String(expiresAt), String(this.pxFor(expiresAt)), userId],
    )) as string;
    if (before !== '') await this.leaveIndex(sid, before);
  }

  async destroySession(sid: string): Promise<boolean> {
    return this.destroy(sid, '');
  }

  async allSessions(): Promise<Record<string, SessionData>> {
    const result: Record<string, SessionData> = {};
    await this.liveSessions(true, (sid, data) => {
      const sess = deserializeSession(data);
      if (sess) result[sid] = sess;
    });
    return result;
  }

  async countSessions(): Promise<number> {
    let count = 0;
    await this.liveSessions(false, () => {
      count += 1;
    });
    return count;
  }

  async clearSessions(): Promise<void> {
    for (const pattern of [this.keys.sessionPattern, this.keys.userPattern]) {
      await this.scanKeys(pattern, async (keys) => {
        // One UNLINK per slot: a Cluster refuses a multi-key command across slots.
        await Promise.all(groupBySlot(keys).map((group) => this.redis.call(['UNLINK', ...group])));
      });
    }
  }

  async sessionsOfUser(userId: string): Promise<Record<string, SessionData>> {
    const now = this.clock();
    const result: Record<string, SessionData> = {};
    await Promise.all(
      this.keys.userInEveryShard(userId).map((userKey) =>
        this.scanMembers(userKey, async (sids) => {
          // One read each. A member whose session expired, went or now belongs to another
          // user (a step left undone, docs/redis.md#failure-modes) is not listed.
          const reads = await Promise.all(
            sids.map((sid) =>
              this.redis.call(['HMGET', this.keys.session(sid), 'data', 'exp', 'uid']),
            ),
          );
          reads.forEach((reply, i) => {
            const [data, exp, uid] = reply as [string | null, string | null, string | null];
            const live = data !== null && Number(exp) > now && uid === userId;
            const sess = live && deserializeSession(data);
            if (sess) result[sids[i] as string] = sess;
          });
        }),
      ),
    );
    return result;
  }

  async destroyUser(userId: string): Promise<number> {
    if (userId === '') return 0;
    return this.endUserSessions(userId, true, String(this.clock()));
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    const claimed = await this.redis.eval(
      CLAIM,
      [this.keys.claim(key)],
      [String(now), String(now + ttlMs), String(this.pxFor(now + ttlMs))],
    );
    return claimed === 1;
  }

  async lock(key: string, ttlMs: number): Promise<LockRelease | undefined> {
    const now = this.clock();
    const lockKey = this.keys.lock(key);
    // The token tells this holder's lock from a later one taken after this one expired.
    const token = randomUUID();
    const taken = await this.redis.eval(
      LOCK,
      [lockKey],
      [String(now), String(now + ttlMs), String(this.pxFor(now + ttlMs)), token],
    );
    if (taken !== 1) return undefined;
    return lockRelease(() => this.redis.eval(UNLOCK, [lockKey], [token]), this.logger);
  }

  async sweep(): Promise<number> {
    const now = String(this.clock());
    let removed = 0;
    // Summed once the page's steps are done (`removed += await …` in parallel would lose counts).
    const add = (counts: Reply[]): void => {
      for (const n of counts) removed += n as number;
    };
    const sweepSlots = async (keys: string[], s: Script): Promise<void> =>
      add(await Promise.all(groupBySlot(keys).map((group) => this.redis.eval(s, group, [now]))));
    await this.scanKeys(this.keys.sessionPattern, (keys) => sweepSlots(keys, SWEEP_SESSIONS));
    // Then the index: members whose session the pass above or Redis's own TTL removed leave
    // their sets, a page of members (one shard's set) per step.
    await this.scanKeys(this.keys.userPattern, async (userKeys) =>
      add(
        await Promise.all(
          userKeys.map((userKey) => this.endMembers(userKey, this.keys.idOf(userKey), false, now)),
        ),
      ),
    );
    for (const pattern of [this.keys.claimPattern, this.keys.lockPattern]) {
      await this.scanKeys(pattern, (keys) => sweepSlots(keys, SWEEP_EXPIRING));
    }
    return removed;
  }

  async ping(): Promise<void> {
    await this.redis.call(['PING']);
  }

  async close(): Promise<void> {
    this.sweeper?.stop();
    await this.redis.close();
  }

  // The key's TTL in Redis: the store's own expiry decides, Redis collects a grace period later.
  private pxFor(expiresAt: number): number {
    return Math.max(expiresAt - this.clock(), 0) + this.expiryGraceMs;
  }

  /** DESTROY_SESSION (only if expired by `expiredBy`, unless ''); true when it removed one. */
  private async destroy(sid: string, expiredBy: string): Promise<boolean> {
    const [done, userId = ''] = (await this.redis.eval(
      DESTROY_SESSION,
      [this.keys.session(sid)],
      [expiredBy],
    )) as [number, string?];
    if (done === 1 && userId !== '') await this.leaveIndex(sid, userId);
    return done === 1;
  }

  /**
   * Removes `sid` from the index of `userId`, the step after a script that ended or moved the
   * session. Best effort: a member it could not remove lists a session that is gone or another
   * user's, which readers skip and the sweep prunes.
   */
  private async leaveIndex(sid: string, userId: string): Promise<void> {
    await this.redis
      .call(['SREM', this.keys.userOfSession(sid, userId), sid])
      .catch(() => undefined);
  }

  /** END_USER_SESSIONS over every shard of the user; resolves with the sum of the counts. */
  private async endUserSessions(userId: string, all: boolean, now: string): Promise<number> {
    const counts = await Promise.all(
      this.keys
        .userInEveryShard(userId)
        .map((userKey) => this.endMembers(userKey, userId, all, now)),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * END_USER_SESSIONS over one set, a page of members per step. Members added meanwhile (a
   * login during a revoke) are not in the pages read, and stay: they came after the revoke.
   */
  private async endMembers(
    userKey: string,
    userId: string,
    all: boolean,
    now: string,
  ): Promise<number> {
    let n = 0;
    await this.scanMembers(userKey, async (sids) => {
      n += (await this.redis.eval(
        END_USER_SESSIONS,
        [userKey, ...sids.map((sid) => this.keys.session(sid))],
        [userId, now, all ? '1' : '0', ...sids],
      )) as number;
    });
    return n;
  }

  /** Visits each live session (sid, and its data when asked for), a SCAN page at a time. */
  private async liveSessions(
    withData: boolean,
    visit: (sid: string, data: string) => void,
  ): Promise<void> {
    const now = this.clock();
    await this.scanKeys(this.keys.sessionPattern, async (keys) => {
      const fields = withData ? ['exp', 'data'] : ['exp'];
      const reads = await Promise.all(
        keys.map((key) => this.redis.call(['HMGET', key, ...fields])),
      );
      reads.forEach((reply, i) => {
        const [exp, data] = reply as [string | null, string | null];
        if (exp !== null && Number(exp) > now) visit(this.keys.idOf(keys[i] as string), data ?? '');
      });
    });
  }

  /** SCAN of every primary (each Cluster primary holds its own keys), a page at a time. */
  private async scanKeys(pattern: string, visit: (keys: string[]) => Promise<void>): Promise<void> {
    for (const primary of this.redis.primaries()) {
      await scanPages(
        primary,
        (cursor) => ['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(PAGE)],
        visit,
      );
    }
  }

  private scanMembers(key: string, visit: (members: string[]) => Promise<void>): Promise<void> {
    return scanPages(
      (args) => this.redis.call(args),
      (cursor) => ['SSCAN', key, cursor, 'COUNT', String(PAGE)],
      visit,
    );
  }
}

// Walks a SCAN-family cursor a page at a time: `command` is the page's command at `cursor`.
async function scanPages(
  send: (args: readonly string[]) => Promise<Reply>,
  command: (cursor: string) => string[],
  visit: (items: string[]) => Promise<void>,
): Promise<void> {
  let cursor = '0';
  do {
    const [next, items] = (await send(command(cursor))) as [string, string[]];
    cursor = next;
    if (items.length > 0) await visit(items);
  } while (cursor !== '0');
}
