import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { StoreUnavailableError } from '../server/stores/errors';
import { expressSessionStore } from '../server/stores/express-adapter';
import { RedisKeys } from '../server/stores/redis/keys';
import { RedisSessionStore } from '../server/stores/redis/store';
import type { RedisSessionStoreOptions } from '../server/stores/redis/store';
import { createTokenVault } from '../server/session/token-vault';
import { freePort } from './support/gateway-harness';
import { startRedisServer, type RedisServer } from './support/redis-server';
import { describeRedisStoreContract, connectRedisStore } from './support/redis-contract';
import { sessionFor } from './support/session-store-contract';
import { redisKeyCount, sessionIdsOfUser } from './support/store-contents';

let redis: RedisServer;
// A plain client of its own, to look at Redis the way an operator (or an attacker) would.
let raw: Redis;
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  raw.on('error', () => undefined);
});

afterAll(async () => {
  raw.disconnect();
  await redis?.stop();
});

describeRedisStoreContract(
  'RedisSessionStore',
  () => ({ url: redis.url, keyPrefix: `contract-${(prefixes += 1)}:` }),
  () => raw,
);

describe('RedisSessionStore', () => {
  let now: number;
  let prefix: string;
  const stores: RedisSessionStore[] = [];
  const warnings: string[] = [];

  async function open(options: Partial<RedisSessionStoreOptions> = {}): Promise<RedisSessionStore> {
    const store = await connectRedisStore({
      url: redis.url,
      keyPrefix: prefix,
      clock: () => now,
      sweepIntervalMs: 0,
      logger: { warn: (_details, message) => warnings.push(message) },
      ...options,
    });
    stores.push(store);
    return store;
  }

  async function eventually<T>(attempt: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async function timed<T>(run: () => Promise<T>): Promise<[unknown, number]> {
    const started = Date.now();
    try {
      await run();
      return [undefined, Date.now() - started];
    } catch (err) {
      return [err, Date.now() - started];
    }
  }

  beforeEach(() => {
    now = Date.now();
    prefix = `store-${(prefixes += 1)}:`;
    warnings.length = 0;
  });

  afterEach(async () => {
    redis.resume();
    for (const store of stores.splice(0)) await store.close();
    if (raw.status !== 'ready') await eventually(() => raw.ping());
    await raw.flushall();
  });

  describe('key layout', () => {
    // Where the store puts each key (server/stores/redis/keys.ts): sessions and their index
    // entries share a shard's hash tag.
    const keys = (): RedisKeys => new RedisKeys(prefix);

    /** Every member of the user's index, over all shards. */
    async function indexOf(userId: string): Promise<string[]> {
      const members = await Promise.all(
        keys()
          .userInEveryShard(userId)
          .map((k) => raw.smembers(k)),
      );
      return members.flat().sort();
    }

    async function indexKeysOf(userId: string): Promise<number> {
      return raw.exists(...keys().userInEveryShard(userId));
    }

    it('keeps the user index as Redis SETs moved in the same step as the session, each with a TTL covering its longest member', async () => {
      const store = await open();
      await store.setSession('a', sessionFor(now, { userId: 'alice', ttlMs: 1_000 }));
      await store.setSession('b', sessionFor(now, { userId: 'alice', ttlMs: 50_000 }));
      expect(await indexOf('alice')).toEqual(['a', 'b']);
      expect(await raw.pttl(keys().userOfSession('b', 'alice'))).toBeGreaterThanOrEqual(
        await raw.pttl(keys().session('b')),
      );
      // The session's own TTL follows its cookie (plus the collection grace).
      const ttl = await raw.pttl(keys().session('b'));
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);

      await store.setSession('a', sessionFor(now, { userId: 'bob' }));
      expect(await indexOf('alice')).toEqual(['b']);
      expect(await indexOf('bob')).toEqual(['a']);
      await store.destroySession('b');
      expect(await indexKeysOf('alice')).toBe(0);
    });

    it('puts a session and its index entry under one hash tag (one Cluster slot)', () => {
      for (const sid of ['a', 'b', 'session-id-xyz']) {
        const tag = /\{[^}]*\}/.exec(keys().session(sid))?.[0];
        expect(tag).toBeDefined();
        expect(keys().userOfSession(sid, 'alice')).toContain(`${tag}user:alice`);
      }
    });

    it('prunes members whose session Redis expired by itself, on sweep', async () => {
      const store = await open();
      await store.setSession('gone', sessionFor(now, { userId: 'alice' }));
      await store.setSession('live', sessionFor(now, { userId: 'alice' }));
      await store.setSession('gone-too', sessionFor(now, { userId: 'bob' }));
      // As Redis does when a key's TTL runs out: the key goes, the set member stays.
      await raw.del(keys().session('gone'), keys().session('gone-too'));
      expect(await sessionIdsOfUser(store, 'alice')).toEqual(['live']);
      expect(await indexKeysOf('bob')).toBe(1);
      await store.sweep();
      expect(await indexOf('alice')).toEqual(['live']);
      expect(await indexKeysOf('bob')).toBe(0);
      expect(await redisKeyCount(raw, prefix)).toBe(2);
    });

    it('a member left in the old user’s set (the second step of a move undone) is harmless: not listed, not revoked, pruned', async () => {
      const store = await open();
      await store.setSession('s1', sessionFor(now, { userId: 'bob' }));
      // As if s1 had been alice's and the SREM after the move never ran.
      await raw.sadd(keys().userOfSession('s1', 'alice'), 's1');
      expect(await store.sessionsOfUser('alice')).toEqual({});
      expect(await store.destroyUser('alice')).toBe(0);
      expect((await store.getSession('s1'))?.user?.id).toBe('bob');
      await raw.sadd(keys().userOfSession('s1', 'alice'), 's1');
      await store.sweep();
      expect(await indexKeysOf('alice')).toBe(0);
      expect(await indexOf('bob')).toEqual(['s1']);
    });

    it('sweeps a large user set page by page (SSCAN)', async () => {
      const store = await open();
      // 320 sessions in one shard, so that one set holds more than a page of members.
      const tagOf = (sid: string): string =>
        keys().session(sid).slice(prefix.length).split('}')[0] ?? '';
      const sids: string[] = [];
      for (let i = 0; sids.length < 320; i += 1) {
        if (tagOf(`s${i}`) === tagOf('s0')) sids.push(`s${i}`);
      }
      for (const [i, sid] of sids.entries()) {
        await store.setSession(
          sid,
          sessionFor(now, { userId: 'alice', ttlMs: i < 100 ? 100 : 60_000 }),
        );
      }
      await raw.del(...sids.slice(100, 110).map((sid) => keys().session(sid)));
      now += 100;
      expect(await store.sweep()).toBe(100);
      expect(await raw.scard(keys().userOfSession('s0', 'alice'))).toBe(210);
      expect(await sessionIdsOfUser(store, 'alice')).toHaveLength(210);
    });

    it('a dump of every key holds the session but no token bytes', async () => {
      const vault = createTokenVault([randomBytes(32)]);
      const store = await open();
      const accessToken = `AT-${randomBytes(16).toString('hex')}`;
      const refreshToken = `RT-${randomBytes(16).toString('hex')}`;
      const tokens = vault.seal(JSON.stringify({ accessToken, refreshToken }));
      await store.setSession('s1', sessionFor(now, { userId: 'user-in-redis', tokens }));
      await store.claimOnce('login-state:x', 60_000);
      await store.lock('refresh:s1', 60_000);

      const parts: string[] = [];
      for (const key of await raw.keys('*')) {
        parts.push(key);
        const type = await raw.type(key);
        if (type === 'string') parts.push((await raw.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await raw.hgetall(key)));
        else if (type === 'set') parts.push(...(await raw.smembers(key)));
        else throw new Error(`unexpected ${type} key ${key}`);
      }
      const dump = parts.join('\n');
      // Control: the dump does hold the session.
      expect(dump).toContain('user-in-redis');
      expect(dump).toContain(tokens);
      for (const secret of [accessToken, refreshToken]) {
        expect(dump).not.toContain(secret);
        expect(dump).not.toContain(Buffer.from(secret).toString('base64'));
      }
    });
  });

  describe('when Redis goes away', () => {
    it('rejects every operation with StoreUnavailableError within ~1 s, stays up, and recovers by itself once Redis is back', async () => {
      const store = await open();
      // What express-session sees: a 'disconnect' would make it serve requests without sessions.
      const expressStore = expressSessionStore(store);
      const disconnects: unknown[] = [];
      expressStore.on('disconnect', () => disconnects.push('disconnect'));
      await store.setSession('s1', sessionFor(now, { userId: 'alice' }));

      await redis.kill();
      const operations: [string, () => Promise<unknown>][] = [
        ['get', () => store.getSession('s1')],
        ['set', () => store.setSession('s2', sessionFor(now, { userId: 'alice' }))],
        ['destroy', () => store.destroySession('s1')],
        ['sessionIdsOfUser', () => sessionIdsOfUser(store, 'alice')],
        ['destroyUser', () => store.destroyUser('alice')],
        ['claimOnce', () => store.claimOnce('k', 1000)],
        ['lock', () => store.lock('k', 1000)],
        ['count', () => store.countSessions()],
        ['sweep', () => store.sweep()],
        ['ping', () => store.ping()],
      ];
      for (const [name, run] of operations) {
        const [err, ms] = await timed(run);
        expect([name, err]).toEqual([name, expect.any(StoreUnavailableError)]);
        expect(ms).toBeLessThan(1200);
      }
      const callbackErr = await new Promise((resolve) =>
        expressStore.get('s1', (err) => resolve(err)),
      );
      expect(callbackErr).toBeInstanceOf(StoreUnavailableError);

      await redis.restart();
      await eventually(() => store.ping());
      // An empty Redis after the restart: scripts are loaded again on first use.
      await store.setSession('s3', sessionFor(now, { userId: 'alice' }));
      expect(await sessionIdsOfUser(store, 'alice')).toEqual(['s3']);
      expect(disconnects).toEqual([]);
      expect(warnings).toEqual([
        'session store: Redis connection lost; reconnecting',
        'session store: Redis connection restored',
      ]);
    });

    it('when Redis stops answering, each operation fails after commandTimeoutMs, then works again', async () => {
      const store = await open({ commandTimeoutMs: 500 });
      await store.setSession('s1', sessionFor(now, { userId: 'alice' }));
      redis.pause();
      const runs: (() => Promise<unknown>)[] = [() => store.getSession('s1'), () => store.ping()];
      for (const run of runs) {
        const [err, ms] = await timed(run);
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(ms).toBeGreaterThanOrEqual(450);
        expect(ms).toBeLessThan(1000);
      }
      redis.resume();
      expect((await store.getSession('s1'))?.user?.id).toBe('alice');
    });

    it('close() while Redis is down returns at once and stops reconnecting', async () => {
      const store = await open();
      await redis.kill();
      try {
        await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
        const [err, ms] = await timed(() => store.close());
        expect(err).toBeUndefined();
        expect(ms).toBeLessThan(200);
        await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      } finally {
        await redis.restart();
      }
    });
  });

  describe('connect()', () => {
    it('fails with one clear StoreUnavailableError when Redis cannot be reached, without the password', async () => {
      const port = await freePort();
      const store = new RedisSessionStore({
        url: `redis://user:hunter2-secret@127.0.0.1:${port}/3`,
        startupTimeoutMs: 300,
      });
      const [err, ms] = await timed(() => store.connect());
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(
        new RegExp(`^cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
      );
      expect((err as Error).message).not.toContain('hunter2');
      expect(ms).toBeLessThan(2000);
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      await store.close();
    });
  });
});
