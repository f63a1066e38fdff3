import {
  ADMIN_USER,
  AGENT_USER,
  startEmulator,
  type GenesysEmulator,
} from '../../emulator/genesys-emulator';
import { TEST_CLIENT_ID, storedTokenSets, type Harness } from '../support/gateway-harness';
import { useRedisTopologies } from '../support/redis-topologies';
import {
  registerReplicasClient,
  startRedisReplica,
  carryCookies,
  expectStoreDown,
  timed,
} from '../support/replica-helpers';
import { sessionIdsOfUser } from '../support/store-contents';

/** Genesys's shortest access-token lifetime. */
const TOKEN_SECONDS = 300;

let prefixes = 0;
const { topologies: TOPOLOGIES, server } = useRedisTopologies();

function refreshCount(emulator: GenesysEmulator): number {
  return emulator
    .requestsFor('token')
    .filter((r) => new URLSearchParams(r.body).get('grant_type') === 'refresh_token').length;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each(TOPOLOGIES)('two gateway replicas on %s', (topology, target) => {
  let emulator: GenesysEmulator;
  let a: Harness;
  let b: Harness;

  const registerClient = (accessTokenLifetimeSeconds?: number): void =>
    registerReplicasClient(emulator, [a, b], accessTokenLifetimeSeconds);

  beforeEach(async () => {
    emulator = await startEmulator();
    // One key prefix per test: the replicas share it, other tests do not see it.
    const keyPrefix = `replicas-${(prefixes += 1)}:`;
    const replica = (): Promise<Harness> => startRedisReplica(emulator, target(), keyPrefix);
    a = await replica();
    b = await replica();
    registerClient();
  });

  afterEach(async () => {
    await server().ensureRunning();
    await a.close();
    await b.close();
    await emulator.close();
  });

  it('a session made on replica A works on replica B, with the same Genesys token', async () => {
    const onA = await a.login(AGENT_USER);
    const [tokens] = await storedTokenSets(a);
    const onB = carryCookies(onA, b.client());
    emulator.clearRequests();
    expect((await onB.get('/session', { csrf: true })).status).toBe(200);
    expect(emulator.requestsFor('getTokensMe')[0]?.headers.authorization).toBe(
      `Bearer ${tokens?.accessToken}`,
    );
    expect(await sessionIdsOfUser(b.store, AGENT_USER.id)).toHaveLength(1);
  });

  it('a logout on B ends the session on A', async () => {
    const onA = await a.login(AGENT_USER);
    const onB = carryCookies(onA, b.client());
    expect((await onB.request('DELETE', '/session', { csrf: true })).status).toBe(204);
    emulator.clearRequests();
    expect((await onA.get('/session', { csrf: true })).status).toBe(401);
    expect(emulator.requests).toEqual([]);
  });

  it('an admin revoke on A ends the user’s sessions made on B: 401 there, and Genesys is not asked', async () => {
    const admin = await a.login(ADMIN_USER);
    const agents = [await b.login(AGENT_USER), await b.login(AGENT_USER)];
    const bystander = await b.login(ADMIN_USER);
    expect(await sessionIdsOfUser(b.store, AGENT_USER.id)).toHaveLength(2);

    const revoke = await admin.request('DELETE', `/admin/users/${AGENT_USER.id}/tokens`, {
      csrf: true,
    });
    expect(revoke.status).toBe(204);

    emulator.clearRequests();
    for (const agent of agents) {
      const res = await agent.get('/session', { csrf: true });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(emulator.requests).toEqual([]);
    expect(await sessionIdsOfUser(b.store, AGENT_USER.id)).toEqual([]);
    expect((await bystander.get('/session', { csrf: true })).status).toBe(200);
  });

  describe('token refresh', () => {
    it('concurrent requests on A and B of a session due for refresh make exactly one refresh, and all succeed', async () => {
      registerClient(TOKEN_SECONDS);
      const onA = await a.login(AGENT_USER);
      const onB = carryCookies(onA, b.client());
      const [before] = await storedTokenSets(a);
      emulator.advance((TOKEN_SECONDS - 10) * 1000);
      emulator.clearRequests();
      // A slow token endpoint keeps every request in flight while the one refresh runs.
      emulator.fault({ operation: 'token', times: 1 }, { latencyMs: 200 });

      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => {
          const browser = i % 2 === 0 ? onA : onB;
          return i % 3 === 0
            ? browser.request('HEAD', '/session', { csrf: true })
            : browser.get('/session', { csrf: true });
        }),
      );
      expect(answers.map((r) => r.status)).toEqual(Array(12).fill(200));
      expect(refreshCount(emulator)).toBe(1);

      // Every call went out with the one new token, and the store holds it for both replicas.
      const [after] = await storedTokenSets(b);
      expect(after?.accessToken).not.toBe(before?.accessToken);
      const bearers = new Set(
        emulator.requests
          .filter((r) => r.operation !== 'token')
          .map((r) => r.headers.authorization),
      );
      expect([...bearers]).toEqual([`Bearer ${after?.accessToken}`]);

      emulator.clearRequests();
      expect((await onA.get('/session', { csrf: true })).status).toBe(200);
      expect((await onB.get('/session', { csrf: true })).status).toBe(200);
      expect(refreshCount(emulator)).toBe(0);
      expect(await a.store.countSessions()).toBe(1);
    });

    it('a refresh lock left by a replica that died answers 503 (not a logout), and is taken over once it expires', async () => {
      registerClient(TOKEN_SECONDS);
      const onA = await a.login(AGENT_USER);
      const onB = carryCookies(onA, b.client());
      const [sid] = await sessionIdsOfUser(a.store, AGENT_USER.id);
      emulator.advance((TOKEN_SECONDS - 10) * 1000);
      // As a replica would leave it if it died mid-refresh: held, never released.
      const lockTtlMs = 2 * a.config.upstreamTimeoutMs;
      expect(await a.store.lock(`refresh:${sid}`, lockTtlMs)).toBeDefined();
      emulator.clearRequests();

      const [stuck, ms] = await timed(() => onB.get('/session', { csrf: true }));
      expect(stuck.status).toBe(503);
      expect(stuck.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(ms).toBeGreaterThanOrEqual(3 * b.config.upstreamTimeoutMs - 100);
      expect(refreshCount(emulator)).toBe(0);
      expect(await b.store.countSessions()).toBe(1);

      emulator.advance(lockTtlMs);
      expect((await onB.get('/session', { csrf: true })).status).toBe(200);
      expect(refreshCount(emulator)).toBe(1);
    });

    it('a refused refresh on one replica ends the session on both', async () => {
      registerClient(TOKEN_SECONDS);
      const onA = await a.login(AGENT_USER);
      const onB = carryCookies(onA, b.client());
      // Every token of the agent revoked straight at Genesys, refresh tokens included.
      const admin = emulator.issueToken(ADMIN_USER.id, TEST_CLIENT_ID);
      await fetch(`${emulator.url}/api/v2/tokens/${AGENT_USER.id}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${admin.access_token}` },
      });
      emulator.advance((TOKEN_SECONDS - 10) * 1000);
      emulator.clearRequests();
      const answers = await Promise.all([
        onA.get('/session', { csrf: true }),
        onB.get('/session', { csrf: true }),
      ]);
      expect(answers.map((r) => r.status)).toEqual([401, 401]);
      expect(refreshCount(emulator)).toBe(1);
      expect(await a.store.countSessions()).toBe(0);
    });
  });

  // Killing and pausing the one server; a Cluster node's outage is a failure mode of its own.
  if (topology === 'one Redis')
    describe('when Redis is down', () => {
      it('/session answers 503 within 2 s, /readyz 503, /healthz 200, and after Redis is back everything works again', async () => {
        const onA = await a.login(AGENT_USER);
        await server().kill();

        const [session, sessionMs] = await timed(() => onA.get('/session', { csrf: true }));
        expectStoreDown(session, sessionMs);
        for (const replica of [a, b]) {
          const [ready, readyMs] = await timed(() => replica.client().get('/readyz'));
          expectStoreDown(ready, readyMs);
          expect((await replica.client().get('/healthz')).status).toBe(200);
        }
        // A login cannot record its one-time state: 503 too, not a 500 or a hang.
        const newcomer = b.client();
        emulator.autoApprove(AGENT_USER.id);
        const start = await newcomer.get('/auth/login');
        const authorize = await newcomer.get(start.location ?? '');
        const [callback, callbackMs] = await timed(() => newcomer.get(authorize.location ?? ''));
        expectStoreDown(callback, callbackMs);

        await server().restart();
        for (const replica of [a, b]) {
          await eventually(async () => (await replica.client().get('/readyz')).status === 200);
        }
        // The restarted Redis is empty (no persistence here): the old session is gone, not broken.
        expect((await onA.get('/session', { csrf: true })).status).toBe(401);
        const fresh = await a.login(AGENT_USER);
        expect((await fresh.get('/session', { csrf: true })).status).toBe(200);
        expect((await carryCookies(fresh, b.client()).get('/session', { csrf: true })).status).toBe(
          200,
        );
        const errors = await a.metrics.registry.getSingleMetricAsString(
          'bff_session_store_errors_total',
        );
        expect(errors).toMatch(/bff_session_store_errors_total [1-9]/);
      });

      it('a Redis that stops answering gets 503 within 2 s too, and the same session works once it answers again', async () => {
        const onA = await a.login(AGENT_USER);
        const onB = carryCookies(onA, b.client());
        server().pause();
        try {
          const [session, sessionMs] = await timed(() => onB.get('/session', { csrf: true }));
          expectStoreDown(session, sessionMs);
          const [ready, readyMs] = await timed(() => a.client().get('/readyz'));
          expectStoreDown(ready, readyMs);
          expect((await b.client().get('/healthz')).status).toBe(200);
        } finally {
          server().resume();
        }
        expect((await onB.get('/session', { csrf: true })).status).toBe(200);
        expect((await onA.get('/session', { csrf: true })).status).toBe(200);
      });
    });
});
