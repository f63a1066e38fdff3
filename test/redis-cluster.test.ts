import { keySlot } from '../server/stores/redis/key-slot';
import { RedisKeys } from '../server/stores/redis/keys';
import type { RedisSessionStore } from '../server/stores/redis/store';
import { documentedAclRules } from './support/redis-acl';
import { connectRedisStore, describeRedisStoreContract } from './support/redis-contract';
import { mainServes } from './support/redis-main';
import { startRedisCluster, type RedisClusterSetup } from './support/redis-cluster';
import { sessionFor } from './support/session-store-contract';
import { redisKeyCount, sessionIdsOfUser } from './support/store-contents';

// Three primaries on loopback, joined by redis-cli --cluster create (support/redis-cluster.ts).
let cluster: RedisClusterSetup;
let prefixes = 0;

const PASSWORD = 'cluster-acl-password-7c2b';

beforeAll(async () => {
  cluster = await startRedisCluster();
  // The documented user, with the two commands docs/redis.md adds for a Cluster, on every node.
  const rules = documentedAclRules(PASSWORD, ['+cluster|slots', '+cluster|info']);
  for (const node of cluster.admin.nodes('master')) {
    await node.call('ACL', 'SETUSER', 'tokens-bff', ...rules);
  }
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

// One seed node: the store finds the other primaries itself.
const seed = () => ({ clusterNodes: cluster.nodes.slice(0, 1) });

// As the documented ACL user, inside its key pattern (~tokens-bff:*).
describeRedisStoreContract(
  'RedisSessionStore on a Redis Cluster, as the documented ACL user',
  () => ({
    ...seed(),
    username: 'tokens-bff',
    password: PASSWORD,
    keyPrefix: `tokens-bff:cluster-${(prefixes += 1)}:`,
  }),
  () => cluster.admin,
);

describe('RedisSessionStore on a Redis Cluster', () => {
  let store: RedisSessionStore;
  let prefix: string;
  const now = Date.now();

  beforeEach(async () => {
    prefix = `cluster-store-${(prefixes += 1)}:`;
    store = await connectRedisStore({ ...seed(), keyPrefix: prefix, sweepIntervalMs: 0 });
  });

  afterEach(async () => {
    await store.close();
    for (const node of cluster.admin.nodes('master')) await node.flushall();
  });

  /** How many of the store's keys each primary holds. */
  async function keysPerPrimary(): Promise<number[]> {
    return Promise.all(cluster.admin.nodes('master').map((node) => redisKeyCount(node, prefix)));
  }

  it('node dist/server/main.js with REDIS_CLUSTER_NODES and the ACL user listens, is ready, stops cleanly', async () => {
    const env = {
      REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
      REDIS_USERNAME: 'tokens-bff',
      REDIS_PASSWORD: PASSWORD,
    };
    expect(await mainServes(env)).toEqual([0, '']);
  });

  it('computes hash slots as the cluster does (CLUSTER KEYSLOT)', async () => {
    const keys = new RedisKeys(prefix);
    for (const key of [
      keys.session('abc'),
      keys.userOfSession('abc', 'alice'),
      keys.claim('login-state:x'),
      keys.lock('refresh:abc'),
      'plain',
      'a{}b',
      'ü{tag}',
    ]) {
      expect([key, keySlot(key)]).toEqual([
        key,
        await cluster.admin.call('CLUSTER', 'KEYSLOT', key),
      ]);
    }
  });

  it('spreads sessions over every primary', async () => {
    for (let i = 0; i < 60; i += 1) {
      await store.setSession(`spread-${i}`, sessionFor(now, { userId: `user-${i % 7}` }));
    }
    const counts = await keysPerPrimary();
    expect(counts).toHaveLength(3);
    for (const n of counts) expect(n).toBeGreaterThan(10);
  });

  it('an admin revoke ends every session of the user, on every primary, and no one else’s', async () => {
    const sids = Array.from({ length: 40 }, (_, i) => `alice-${i}`);
    for (const sid of sids) await store.setSession(sid, sessionFor(now, { userId: 'alice' }));
    await store.setSession('bob-1', sessionFor(now, { userId: 'bob' }));
    // Control: alice's sessions are on all three primaries.
    expect((await keysPerPrimary()).every((n) => n > 0)).toBe(true);

    expect(await store.destroyUser('alice')).toBe(40);
    for (const sid of sids) expect(await store.getSession(sid)).toBeNull();
    expect(await sessionIdsOfUser(store, 'alice')).toEqual([]);
    expect(await store.sessionsOfUser('alice')).toEqual({});
    expect((await store.getSession('bob-1'))?.user?.id).toBe('bob');
    // Only bob's session and his index entry are left.
    expect((await keysPerPrimary()).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('a session moved to another user leaves the first user’s index, whatever replica moved it', async () => {
    const other = await connectRedisStore({ ...seed(), keyPrefix: prefix, sweepIntervalMs: 0 });
    try {
      await store.setSession('s1', sessionFor(now, { userId: 'alice' }));
      // The second replica does not know s1 was alice's: its first guess is wrong.
      await other.setSession('s1', sessionFor(now, { userId: 'bob' }));
      expect(await store.sessionsOfUser('alice')).toEqual({});
      expect(Object.keys(await store.sessionsOfUser('bob'))).toEqual(['s1']);
      expect(await store.destroyUser('alice')).toBe(0);
      expect(await other.destroySession('s1')).toBe(true);
      expect(await redisKeyCount(cluster.admin, prefix)).toBe(0);
    } finally {
      await other.close();
    }
  });
});
