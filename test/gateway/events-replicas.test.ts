import {
  ADMIN_USER,
  AGENT_USER,
  startEmulator,
  type GenesysEmulator,
} from '../../emulator/genesys-emulator';
import type { Harness } from '../support/gateway-harness';
import { useRedisTopologies } from '../support/redis-topologies';
import {
  carryCookies,
  registerReplicasClient,
  startRedisReplica,
} from '../support/replica-helpers';
import { openStream } from '../support/event-stream';

let prefixes = 0;
const { topologies: TOPOLOGIES } = useRedisTopologies();

describe.each(TOPOLOGIES)('session events across two replicas on %s', (topology, target) => {
  let emulator: GenesysEmulator;
  let a: Harness;
  let b: Harness;

  beforeEach(async () => {
    emulator = await startEmulator();
    const keyPrefix = `events-${(prefixes += 1)}:`;
    const replica = (): Promise<Harness> => startRedisReplica(emulator, target(), keyPrefix);
    a = await replica();
    b = await replica();
    registerReplicasClient(emulator, [a, b]);
  });

  afterEach(async () => {
    await a.close();
    await b.close();
    await emulator.close();
  });

  it('a logout on A ends the stream held on B within 2 s', async () => {
    const onA = await a.login(AGENT_USER);
    const onB = carryCookies(onA, b.client());
    const stream = await openStream(onB);
    expect(stream.status).toBe(200);
    const started = Date.now();
    expect((await onA.request('DELETE', '/session', { csrf: true })).status).toBe(204);
    expect((await stream.next('ended', 2000)).data).toEqual({ reason: 'logout' });
    expect(Date.now() - started).toBeLessThan(2000);
    await stream.closed;
  });

  it("an admin revoke on A ends the user's streams on A and on B", async () => {
    const agentOnA = await a.login(AGENT_USER);
    const secondAgent = await b.login(AGENT_USER);
    const streamOnA = await openStream(agentOnA);
    const streamOnB = await openStream(secondAgent);
    const admin = await a.login(ADMIN_USER);
    const adminStream = await openStream(carryCookies(admin, b.client()));
    const res = await admin.request('DELETE', `/admin/users/${AGENT_USER.id}/tokens`, {
      csrf: true,
    });
    expect(res.status).toBe(204);
    expect((await streamOnA.next('ended', 2000)).data).toEqual({ reason: 'revoked' });
    expect((await streamOnB.next('ended', 2000)).data).toEqual({ reason: 'revoked' });
    // Another user's stream hears nothing.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(adminStream.events).toEqual([]);
    adminStream.close();
  });
});
