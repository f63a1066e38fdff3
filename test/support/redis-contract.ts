import type { Cluster, Redis } from 'ioredis';
import { RedisSessionStore } from '../../server/stores/redis/store';
import type { RedisSessionStoreOptions } from '../../server/stores/redis/store';
import { describeSessionStoreContract } from './session-store-contract';
import { redisKeyCount } from './store-contents';

const optionsOf = new WeakMap<object, RedisSessionStoreOptions>();

/** A connected Redis store; another one opened with `reopen(store)` shares its Redis and prefix. */
export async function connectRedisStore(
  options: RedisSessionStoreOptions,
): Promise<RedisSessionStore> {
  const store = new RedisSessionStore(options);
  optionsOf.set(store, options);
  await store.connect();
  return store;
}

function optionsOfStore(store: object): RedisSessionStoreOptions {
  const options = optionsOf.get(store);
  if (!options) throw new Error('not a store made by connectRedisStore');
  return options;
}

/**
 * The session store contract against one Redis topology: `target()` says how to reach it (with
 * a fresh key prefix each time, so tests do not see each other), `admin()` is a client of the
 * test's own to count and flush keys with.
 */
export function describeRedisStoreContract(
  name: string,
  target: () => RedisSessionStoreOptions,
  admin: () => Redis | Cluster,
): void {
  describeSessionStoreContract(name, {
    create: (options) => connectRedisStore({ ...target(), ...options }),
    rawSize: (store) => redisKeyCount(admin(), optionsOfStore(store).keyPrefix ?? ''),
    // Another replica: its own connection, the same Redis and key prefix.
    sameBacking: (store) => connectRedisStore(optionsOfStore(store)),
    cleanup: async () => {
      const client = admin();
      const nodes = 'nodes' in client ? client.nodes('master') : [client];
      for (const node of nodes) await node.flushall();
    },
  });
}
