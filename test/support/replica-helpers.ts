import type { GenesysEmulator } from '../../emulator/genesys-emulator';
import { RedisSessionStore } from '../../server/stores/redis/store';
import { startHarness, type Harness } from './gateway-harness';
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

/**
 * One gateway replica on the Redis at `redisUrl`, against `emulator`: replicas started with the
 * same `keyPrefix` share their sessions, and other tests do not see them. `env` adds to its
 * configuration.
 */
export function startRedisReplica(
  emulator: GenesysEmulator,
  redisUrl: string,
  keyPrefix: string,
  env: Record<string, string> = {},
): Promise<Harness> {
  return startHarness({
    emulator,
    env: { SESSION_STORE: 'redis', REDIS_URL: redisUrl, ...env },
    store: async (clock) => {
      const store = new RedisSessionStore({ url: redisUrl, keyPrefix, clock, sweepIntervalMs: 0 });
      await store.connect();
      return store;
    },
  });
}
