import net from 'node:net';
import Redis from 'ioredis';
import { AGENT_USER, startEmulator, type GenesysEmulator } from '../emulator/genesys-emulator';
import type { Harness } from './support/gateway-harness';
import { describeRedisStoreContract } from './support/redis-contract';
import { SENTINEL_MASTER, startSentinelSetup, type SentinelSetup } from './support/redis-sentinel';
import { mainRun, mainServes } from './support/redis-main';
import { startRedisReplica } from './support/replica-helpers';
import { replicated } from './support/redis-replication';
import { untilServedAgain } from './support/failover-traffic';

// A primary, a replica and three redis-sentinel processes on loopback (support/redis-sentinel.ts).
let setup: SentinelSetup;
// The primary's own client, to count and flush keys as an operator would.
let admin: Redis;
let prefixes = 0;

beforeAll(async () => {
  setup = await startSentinelSetup();
  // A short disconnectTimeout: its stream to the killed primary must not hold jest open.
  admin = new Redis(setup.primary.port, '127.0.0.1', {
    maxRetriesPerRequest: 1,
    disconnectTimeout: 100,
  });
  admin.on('error', () => undefined);
}, 60_000);

afterAll(async () => {
  admin?.disconnect();
  await setup?.stop();
});

/** main's environment for the test's Sentinels, and `more` host:port entries after them. */
function sentinelEnv(more: string[] = []): Record<string, string> {
  return {
    REDIS_SENTINELS: [...setup.sentinels.map((s) => `${s.host}:${s.port}`), ...more].join(','),
    REDIS_SENTINEL_MASTER: SENTINEL_MASTER,
  };
}

function sentinelTarget() {
  return { sentinels: setup.sentinels, sentinelMaster: SENTINEL_MASTER };
}

describeRedisStoreContract(
  'RedisSessionStore through Redis Sentinel',
  () => ({ ...sentinelTarget(), keyPrefix: `sentinel-${(prefixes += 1)}:` }),
  () => admin,
);

it('node dist/server/main.js with REDIS_SENTINELS listens, is ready, stops cleanly', async () => {
  expect(await mainServes(sentinelEnv())).toEqual([0, '']);
});

it('a listed Sentinel that resets every connection: main serves, and nothing raw reaches stderr', async () => {
  // A Sentinel host going bad (or a middlebox in front of it) resets connections. ioredis
  // writes the errors of a connection nobody listens on with console.error, outside the JSON
  // logs, and its failover detector holds one connection to each Sentinel.
  const resetter = net.createServer((socket) => socket.resetAndDestroy());
  await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve));
  const bad = (resetter.address() as net.AddressInfo).port;
  try {
    const run = await mainRun(sentinelEnv([`127.0.0.1:${bad}`]), 500);
    expect([run.code, run.err]).toEqual([0, '']);
    // Said once, in the JSON logs, naming the Sentinel.
    const warnings = run.out
      .split('\n')
      .filter((line) => line.includes('a Sentinel connection failed'))
      .map((line) => JSON.parse(line) as { sentinel?: string });
    expect(warnings.map((w) => w.sentinel)).toEqual([`127.0.0.1:${bad}`]);
  } finally {
    await new Promise((resolve) => resetter.close(resolve));
  }
});

// Runs last in this file: it kills the primary the contract above used.
describe('a primary failover while the gateway serves traffic', () => {
  let emulator: GenesysEmulator;
  let gateway: Harness;

  beforeAll(async () => {
    emulator = await startEmulator();
    gateway = await startRedisReplica(emulator, sentinelTarget(), 'failover:');
  });

  afterAll(async () => {
    await gateway?.close();
    await emulator?.close();
  });

  it('answers 503 problems (never 500) for a few seconds, then serves again without a restart, and sessions written before survive', async () => {
    const agent = await gateway.login(AGENT_USER);
    const before = await agent.get('/session', { csrf: true });
    expect(before.status).toBe(200);
    // The session is on the replica before the primary goes: a failover keeps what was replicated.
    await replicated(admin);

    const answers: { at: number; status: number; type: string | null }[] = [];
    const killedAt = Date.now();
    await setup.primary.kill();
    // Traffic on the session made before the kill, until 5 answers in a row are 200 again.
    const recoveredAt = await untilServedAgain(async () => {
      const res = await agent.get('/session', { csrf: true });
      answers.push({ at: Date.now(), status: res.status, type: res.headers.get('content-type') });
      return res.status === 200;
    }, 5);

    const failures = answers.filter((a) => a.status !== 200);
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200, 503]));
    for (const f of failures) expect(f.type).toMatch(/^application\/problem\+json/);
    expect(recoveredAt).toBeDefined();
    const firstFailure = failures[0]?.at ?? killedAt;
    const lastFailure = failures[failures.length - 1]?.at ?? killedAt;
    const windowMs = (recoveredAt as number) - killedAt;
    // The figure the issue asks for, printed for the report and the CI log.
    console.log(
      `sentinel failover: ${failures.length} answers of 503 from ${firstFailure - killedAt} ms to ${lastFailure - killedAt} ms after the kill; serving again ${windowMs} ms after it (${answers.length} requests)`,
    );
    expect(windowMs).toBeLessThan(10_000);

    // The replica is the primary now, and the gateway writes there: a new login works.
    expect((await setup.currentPrimary()).port).toBe(setup.replica.port);
    const later = await gateway.login(AGENT_USER);
    expect((await later.get('/session', { csrf: true })).status).toBe(200);
  }, 60_000);
});
