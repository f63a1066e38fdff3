import type { RedisSettings } from '../../config/types';
import { startRedisCluster, type RedisClusterSetup } from './redis-cluster';
import { startRedisServer, type RedisServer } from './redis-server';

/** A name for the test title, and where a replica finds the store (read once the hooks ran). */
export type RedisTopology = [string, () => string | RedisSettings];

/**
 * One Redis and a three-primary Cluster for the tests of a file, started before them all and
 * stopped after: the same behaviour is checked on both, the Cluster putting a user's sessions
 * and their index entries in several slots (docs/redis.md#key-layout). Use the list with
 * `describe.each`; `server()` is the single Redis, for the tests that stop or pause it.
 */
export function useRedisTopologies(): {
  topologies: RedisTopology[];
  server: () => RedisServer;
} {
  let redis: RedisServer | undefined;
  let cluster: RedisClusterSetup | undefined;
  beforeAll(async () => {
    redis = await startRedisServer();
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
    await cluster?.stop();
  });
  const server = (): RedisServer => {
    if (redis === undefined) throw new Error('useRedisTopologies: read before its hook ran');
    return redis;
  };
  return {
    topologies: [
      ['one Redis', () => server().url],
      ['a Redis Cluster', () => ({ clusterNodes: (cluster as RedisClusterSetup).nodes })],
    ],
    server,
  };
}
