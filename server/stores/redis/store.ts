import { randomUUID } from 'node:crypto';
import type { Broadcast, LockRelease, SessionStore } from '../contract';
import { liveSession } from '../lazy-expiry';
import { lockRelease } from '../lock-release';
import { silentLogger, type StoreLogger, type StoreOptions } from '../options';
import { deserializeSession, expiryRule, serializeSession, sessionUserId } from '../session-data';
import type { ExpiryRule, SessionData } from '../session-data';
import { startSweeper, type Sweeper } from '../sweeper';
import { RedisConnection, type RedisConnectionOptions } from './connection';
import {
  CLAIM,
  DESTROY_SESSION,
  DESTROY_USER,
  LOCK,
  PRUNE_USER,
  PRUNE_USERS,
  SCAN_SESSIONS,
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
 * The session store for many replicas (SESSION_STORE=redis), on one Redis connection. Every
 * operation fails with StoreUnavailableError within about `commandTimeoutMs` while Redis is down
 * or slow (no command is queued for later); the connection comes back by itself.
 */
export class RedisSessionStore implements SessionStore {
  /** Session events between the replicas, over Redis pub/sub. */
  readonly broadcast: Broadcast = {
    publish: async (message) => {
      await this.redis.call(['PUBLISH', `${this.prefix}events`, message]);
    },
    subscribe: (listener) => this.redis.subscribe(`${this.prefix}events`, listener),
  };
  private readonly clock: () => number;
  private readonly logger: StoreLogger;
  private readonly expiresAt: ExpiryRule;
  private readonly redis: RedisConnection;
  private readonly prefix: string;
  private readonly expiryGraceMs: number;
  private readonly sweepIntervalMs: number | undefined;
  private sweeper: Sweeper | undefined;

  /** Builds the store; nothing is connected until `connect()`. */
  constructor(options: RedisSessionStoreOptions) {
    this.clock = options.clock ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.expiresAt = expiryRule(options);
    this.prefix = options.keyPrefix ?? 'tokens-bff:';
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
    const [data, exp] = (await this.redis.call(['HMGET', this.sessKey(sid), 'data', 'exp'])) as [
      string | null,
      string | null,
    ];
    if (data === null || exp === null) return null;
    // A session left behind is also dropped by Redis a grace period after its expiry.
    return liveSession({ data, expiresAt: Number(exp) }, now, (expiredBy) =>
      this.redis.eval(
        DESTROY_SESSION,
        [this.sessKey(sid)],
        [this.prefix, sid, expiredBy === undefined ? '' : String(expiredBy)],
      ),
    );
  }

  async setSession(sid: string, sess: SessionData): Promise<void> {
    const expiresAt = this.expiresAt(sess, this.clock());
    await this.redis.eval(
      SET_SESSION,
      [this.sessKey(sid)],
      [
        this.prefix,
        sid,
        serializeSession(sess),
        String(expiresAt),
        String(this.pxFor(expiresAt)),
        sessionUserId(sess) ?? '',
      ],
    );
  }

  async destroySession(sid: string): Promise<boolean> {
    return (
      (await this.redis.eval(DESTROY_SESSION, [this.sessKey(sid)], [this.prefix, sid, ''])) === 1
    );
  }

  async allSessions(): Promise<Record<string, SessionData>> {
    const result: Record<string, SessionData> = {};
    const skip = this.prefix.length + 'sess:'.length;
    await this.scanSessions(true, (key, data) => {
      const sess = deserializeSession(data);
      if (sess) result[key.slice(skip)] = sess;
    });
    return result;
  }

  async countSessions(): Promise<number> {
    let count = 0;
    await this.scanSessions(false, () => {
      count += 1;
    });
    return count;
  }

  async clearSessions(): Promise<void> {
    for (const kind of ['sess:', 'user:']) {
      await this.scanKeys(`${globEscape(this.prefix)}${kind}*`, async (keys) => {
        await this.redis.call(['UNLINK', ...keys]);
      });
    }
  }

  async sessionsOfUser(userId: string): Promise<Record<string, SessionData>> {
    const now = this.clock();
    const sids = (await this.redis.call(['SMEMBERS', this.userKey(userId)])) as string[];
    const result: Record<string, SessionData> = {};
    // One read each; a member whose session expired or went meanwhile is simply not listed.
    for (const sid of sids) {
      const [data, exp] = (await this.redis.call(['HMGET', this.sessKey(sid), 'data', 'exp'])) as [
        string | null,
        string | null,
      ];
      const sess = data !== null && exp !== null && Number(exp) > now && deserializeSession(data);
      if (sess) result[sid] = sess;
    }
    return result;
  }

  async destroyUser(userId: string): Promise<number> {
    if (userId === '') return 0;
    const destroyed = await this.redis.eval(
      DESTROY_USER,
      [this.userKey(userId)],
      [this.prefix, userId, String(this.clock())],
    );
    return destroyed as number;
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    const claimed = await this.redis.eval(
      CLAIM,
      [this.key('claim:', key)],
      [String(now), String(now + ttlMs), String(this.pxFor(now + ttlMs))],
    );
    return claimed === 1;
  }

  async lock(key: string, ttlMs: number): Promise<LockRelease | undefined> {
    const now = this.clock();
    const lockKey = this.key('lock:', key);
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
    const prefix = globEscape(this.prefix);
    let removed = 0;
    await this.scanKeys(`${prefix}sess:*`, async (keys) => {
      removed += (await this.redis.eval(SWEEP_SESSIONS, keys, [this.prefix, now])) as number;
    });
    // Members whose session Redis expired by itself: small sets a page at a time, large ones
    // (rare: one user, many sessions) by SSCAN, so no single step holds Redis for long.
    const skip = this.prefix.length + 'user:'.length;
    await this.scanKeys(`${prefix}user:*`, async (keys) => {
      const [pruned, ...large] = (await this.redis.eval(PRUNE_USERS, keys, [
        this.prefix,
        now,
        String(PAGE),
      ])) as [number, ...string[]];
      removed += pruned;
      for (const userKey of large) {
        const userId = userKey.slice(skip);
        await this.scanMembers(userKey, async (sids) => {
          const pruned = await this.redis.eval(
            PRUNE_USER,
            [userKey],
            [this.prefix, userId, now, ...sids],
          );
          removed += pruned as number;
        });
      }
    });
    for (const kind of ['claim:', 'lock:']) {
      await this.scanKeys(`${prefix}${kind}*`, async (keys) => {
        removed += (await this.redis.eval(SWEEP_EXPIRING, keys, [now])) as number;
      });
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

  private key(kind: string, id: string): string {
    return `${this.prefix}${kind}${id}`;
  }

  private sessKey(sid: string): string {
    return this.key('sess:', sid);
  }

  private userKey(userId: string): string {
    return this.key('user:', userId);
  }

  private async scanSessions(
    withData: boolean,
    visit: (key: string, data: string) => void,
  ): Promise<void> {
    const pattern = `${globEscape(this.prefix)}sess:*`;
    const now = String(this.clock());
    let cursor = '0';
    do {
      const page = (await this.redis.eval(
        SCAN_SESSIONS,
        [],
        [cursor, pattern, String(PAGE), now, withData ? '1' : '0'],
      )) as string[];
      cursor = page[0] ?? '0';
      for (let i = 1; i + 1 < page.length; i += 2) visit(page[i] as string, page[i + 1] as string);
    } while (cursor !== '0');
  }

  private scanKeys(pattern: string, visit: (keys: string[]) => Promise<void>): Promise<void> {
    return this.scanPages(
      (cursor) => ['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(PAGE)],
      visit,
    );
  }

  private scanMembers(key: string, visit: (members: string[]) => Promise<void>): Promise<void> {
    return this.scanPages((cursor) => ['SSCAN', key, cursor, 'COUNT', String(PAGE)], visit);
  }

  // Walks a SCAN-family cursor a page at a time: `command` is the page's command at `cursor`.
  private async scanPages(
    command: (cursor: string) => string[],
    visit: (items: string[]) => Promise<void>,
  ): Promise<void> {
    let cursor = '0';
    do {
      const [next, items] = (await this.redis.call(command(cursor))) as [string, string[]];
      cursor = next;
      if (items.length > 0) await visit(items);
    } while (cursor !== '0');
  }
}

// SCAN MATCH takes a glob: a prefix holding * ? [ ] or \ must not match other keys.
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
