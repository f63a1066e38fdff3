import type { RedisSettings } from '../../config/types';
import type { GenesysEmulator } from '../../emulator/genesys-emulator';
import { RedisSessionStore } from '../../server/stores/redis/store';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, startHarness, type Harness } from './gateway-harness';
import type { BrowserClient, ClientResponse } from './browser-client';

/** docs/contract.md#upstream-and-store-failures: store down ⇒ 503 within 2 s. */
export const STORE_DOWN_BUDGET_MS = 2000;

/** Moves the cookies a browser holds for one gateway over to another gateway's origin. */
export function carryCookies(from: BrowserClient, to: BrowserClient): BrowserClient {
  for (const [name, cookie] of from.cookies) to.cookies.set(name, cookie);
  return to;
}

/** The answer and how long it took, in ms. */
export async function timed(run: () => Promise<ClientResponse>): Promise<[ClientResponse, number]> {
  const started = Date.now();
  const res = await run();
  return [res, Date.now() - started];
}

/** A 503 problem answer within the contract's budget for a store that is down. */
export function expectStoreDown(res: ClientResponse, ms: number): void {
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(ms).toBeLessThan(STORE_DOWN_BUDGET_MS);
}

/** The environment that names `redis` (the harness checks it with loadConfig, as main does). */
function redisEnv(redis: RedisSettings): Record<string, string> {
  const list = (endpoints: readonly { host: string; port: number }[]): string =>
    endpoints.map(({ host, port }) => `${host}:${port}`).join(',');
  if (redis.url !== undefined) return { REDIS_URL: redis.url };
  if (redis.sentinels !== undefined) {
    return {
      REDIS_SENTINELS: list(redis.sentinels),
      REDIS_SENTINEL_MASTER: redis.sentinelMaster ?? '',
    };
  }
  return { REDIS_CLUSTER_NODES: list(redis.clusterNodes ?? []) };
}

/**
 * One gateway replica on `redis` (a URL, Sentinels or a Cluster), against `emulator`: replicas
 * started with the same `keyPrefix` share their sessions, and other tests do not see them. `env`
 * adds to its configuration.
 */
export function startRedisReplica(
  emulator: GenesysEmulator,
  redis: string | RedisSettings,
  keyPrefix: string,
  env: Record<string, string> = {},
): Promise<Harness> {
  const settings = typeof redis === 'string' ? { url: redis } : redis;
  return startHarness({
    emulator,
    env: { SESSION_STORE: 'redis', ...redisEnv(settings), ...env },
    store: async (clock) => {
      const store = new RedisSessionStore({ ...settings, keyPrefix, clock, sweepIntervalMs: 0 });
      await store.connect();
      return store;
    },
  });
}

/**
 * The harness's OAuth client with both replicas' callbacks (each replica has its own origin
 * here), and this access-token lifetime when given; registering again replaces it.
 */
export function registerReplicasClient(
  emulator: GenesysEmulator,
  replicas: readonly Harness[],
  accessTokenLifetimeSeconds?: number,
): void {
  emulator.addClient({
    id: TEST_CLIENT_ID,
    secret: TEST_CLIENT_SECRET,
    name: 'tokens-bff replicas',
    redirectUris: replicas.map((r) => r.config.oauth.redirectUri),
    ...(accessTokenLifetimeSeconds === undefined ? {} : { accessTokenLifetimeSeconds }),
  });
}
