import { AGENT_USER, startEmulator, type GenesysEmulator } from '../emulator/genesys-emulator';
import type { Harness } from './support/gateway-harness';
import type { BrowserClient } from './support/browser-client';
import { startRedisCluster, type RedisClusterSetup } from './support/redis-cluster';
import { startRedisReplica } from './support/replica-helpers';
import { replicated } from './support/redis-replication';
import { untilServedAgain } from './support/failover-traffic';

// A Cluster primary fails over to its replica while the gateway serves traffic: three primaries,
// each with a replica (support/redis-cluster.ts, node timeout 1 s). Sessions spread over every
// primary's slots; the one whose primary dies is read from the promoted replica, with no restart.
let cluster: RedisClusterSetup;
let emulator: GenesysEmulator;
let gateway: Harness;

beforeAll(async () => {
  cluster = await startRedisCluster({ replicas: true });
  emulator = await startEmulator();
  gateway = await startRedisReplica(emulator, { clusterNodes: cluster.nodes }, 'cluster-failover:');
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await emulator?.close();
  await cluster?.stop();
});

it('answers 503 problems (never 500) for a few seconds when a primary dies, then serves every session again from the promoted replica', async () => {
  // Enough sessions that every primary holds some (16 shards over 3 primaries' slot ranges).
  const sessions: BrowserClient[] = [];
  for (let i = 0; i < 12; i += 1) sessions.push(await gateway.login(AGENT_USER));
  for (const s of sessions) expect((await s.get('/session', { csrf: true })).status).toBe(200);
  const primaries = cluster.admin.nodes('master');
  // Every write has reached the replicas before the kill: a failover keeps what was replicated.
  for (const node of primaries) await replicated(node);
  const victimPort = primaries[0]?.options.port;
  const victim = cluster.servers.find((s) => s.port === victimPort);
  if (victim === undefined) throw new Error('no primary to kill');

  const statuses = new Set<number>();
  const types = new Set<string>();
  const killedAt = Date.now();
  await victim.kill();
  let requests = 0;
  // Every session, round after round, until 3 rounds in a row answer 200 for all of them.
  const recoveredAt = await untilServedAgain(async () => {
    const answers = await Promise.all(sessions.map((s) => s.get('/session', { csrf: true })));
    requests += answers.length;
    for (const a of answers) {
      statuses.add(a.status);
      if (a.status !== 200) types.add(a.headers.get('content-type') ?? '');
    }
    return answers.every((a) => a.status === 200);
  }, 3);

  expect(recoveredAt).toBeDefined();
  const windowMs = (recoveredAt as number) - killedAt;
  console.log(
    `cluster failover: answers ${[...statuses].sort().join('/')}; every session served again ${windowMs} ms after the kill (${requests} requests)`,
  );
  for (const status of statuses) expect([200, 503]).toContain(status);
  for (const type of types) expect(type).toMatch(/^application\/problem\+json/);
  expect(windowMs).toBeLessThan(15_000);
  // A new login writes to the cluster as it is now.
  const later = await gateway.login(AGENT_USER);
  expect((await later.get('/session', { csrf: true })).status).toBe(200);
}, 60_000);
