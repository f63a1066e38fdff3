import { ADMIN_USER, startEmulator, type GenesysEmulator } from '../../emulator/genesys-emulator';
import type { Harness } from '../support/gateway-harness';
import { useRedisTopologies } from '../support/redis-topologies';
import {
  carryCookies,
  registerReplicasClient,
  startRedisReplica,
} from '../support/replica-helpers';
import { expectProblem } from '../support/expect-problem';

// A popup's login answered by one replica is handed over on another (docs/embedded.md): the
// staged login lives in the shared store, not in the process that made it.
// On one Redis, and on a three-primary Cluster, where the staged login's key (the code's hash)
// falls in whatever slot it falls in.
const { topologies: TOPOLOGIES } = useRedisTopologies();

const handoff = (frame: ReturnType<Harness['client']>, code: string) =>
  frame.request('POST', '/auth/handoff', {
    csrf: true,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code }),
  });

describe.each(TOPOLOGIES)('popup login across two replicas on %s', (_name, target) => {
  let emulator: GenesysEmulator;
  let a: Harness;
  let b: Harness;
  let runs = 0;

  beforeEach(async () => {
    emulator = await startEmulator();
    const embedded = { EMBED_ORIGINS: 'genesys' };
    const keyPrefix = `embed-replicas-${(runs += 1)}:`;
    a = await startRedisReplica(emulator, target(), keyPrefix, embedded);
    b = await startRedisReplica(emulator, target(), keyPrefix, embedded);
    registerReplicasClient(emulator, [a, b]);
  });

  afterEach(async () => {
    await a?.close();
    await b?.close();
    await emulator?.close();
  });

  it('stages the login on replica A and hands it over on replica B, once', async () => {
    const frameOnA = a.client();
    const asked = await frameOnA.request('POST', '/auth/popup', { csrf: true });
    expect(asked.status).toBe(200);
    emulator.autoApprove(ADMIN_USER.id);
    const page = await a.client().follow(asked.json<{ loginUrl: string }>().loginUrl);
    const code = /data-code="([^"]+)"/.exec(page.text)?.[1] as string;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const frameOnB = carryCookies(frameOnA, b.client());
    expect((await handoff(frameOnB, code)).status).toBe(204);
    expect((await frameOnB.get('/session', { csrf: true })).status).toBe(200);
    // Spent for every replica.
    expectProblem(await handoff(carryCookies(frameOnB, a.client()), code), 400);
  });
});
