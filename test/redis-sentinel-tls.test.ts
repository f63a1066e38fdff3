import fs from 'node:fs';
import Redis from 'ioredis';
import { describeRedisStoreContract, connectRedisStore } from './support/redis-contract';
import { SENTINEL_MASTER, startSentinelSetup, type SentinelSetup } from './support/redis-sentinel';
import { makeTlsFiles, type TlsFiles } from './support/redis-tls';
import { mainServes } from './support/redis-main';
import { replicated } from './support/redis-replication';

// Sentinel over TLS (REDIS_TLS=true): the primary, its replica and three redis-sentinel processes
// speak only TLS, with a CA made in the test; the store reaches the Sentinels and the primary they
// name over TLS, and follows a failover there too.
let tls: TlsFiles;
let setup: SentinelSetup;
let admin: Redis;
let prefixes = 0;

beforeAll(async () => {
  tls = makeTlsFiles();
  setup = await startSentinelSetup(tls);
  admin = new Redis(setup.primary.port, '127.0.0.1', {
    maxRetriesPerRequest: 1,
    disconnectTimeout: 100,
    tls: { ca: [fs.readFileSync(tls.ca)] },
  });
  admin.on('error', () => undefined);
}, 60_000);

afterAll(async () => {
  admin?.disconnect();
  await setup?.stop();
  tls?.remove();
});

function target() {
  return {
    sentinels: setup.sentinels,
    sentinelMaster: SENTINEL_MASTER,
    tls: true,
    tlsCa: fs.readFileSync(tls.ca, 'utf8'),
  };
}

describeRedisStoreContract(
  'RedisSessionStore through Redis Sentinel over TLS',
  () => ({ ...target(), keyPrefix: `sentinel-tls-${(prefixes += 1)}:` }),
  () => admin,
);

it('node dist/server/main.js with REDIS_SENTINELS, REDIS_TLS and REDIS_TLS_CA_FILE listens, is ready, stops cleanly', async () => {
  const env = {
    REDIS_SENTINELS: setup.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
    REDIS_SENTINEL_MASTER: SENTINEL_MASTER,
    REDIS_TLS: 'true',
    REDIS_TLS_CA_FILE: tls.ca,
  };
  expect(await mainServes(env)).toEqual([0, '']);
});

/**
 * What a failed failover test prints: the reads' last errors, the keys the promoted replica
 * holds, and the primary the Sentinels name. It tells a failover that never came, a lost key and
 * a store that did not follow apart (the last was an ioredis race: redis-sentinel-switch.test.ts).
 */
async function whyUnread(seen: string[]): Promise<unknown> {
  const replica = new Redis(setup.replica.port, '127.0.0.1', {
    maxRetriesPerRequest: 1,
    tls: { ca: [fs.readFileSync(tls.ca)] },
  });
  const keys = await replica.keys('sentinel-tls-failover:*').finally(() => replica.disconnect());
  return { seen: seen.slice(-3), keys, primary: await setup.currentPrimary() };
}

// Runs last in this file: it kills the primary the tests above used.
it('follows a failover over TLS: a session written before it is read from the promoted replica', async () => {
  const store = await connectRedisStore({ ...target(), keyPrefix: 'sentinel-tls-failover:' });
  try {
    const cookie = { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) };
    await store.setSession('before-failover', { cookie });
    await replicated(admin);
    await setup.primary.kill();
    const killedAt = Date.now();
    const deadline = killedAt + 20_000;
    let read: unknown = null;
    // What the failed reads heard, for the failure message.
    const seen: string[] = [];
    while (read === null && Date.now() < deadline) {
      read = await store.getSession('before-failover').catch((err: Error) => {
        seen.push(`${Date.now() - killedAt} ms: ${err.message}`);
        return null;
      });
      if (read === null) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(read === null ? await whyUnread(seen) : 'read').toBe('read');
    expect((await setup.currentPrimary()).port).toBe(setup.replica.port);
  } finally {
    await store.close();
  }
}, 45_000);
