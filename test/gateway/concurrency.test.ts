import { useHarness } from '../support/gateway-harness';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import type { BrowserClient } from '../support/browser-client';
import { sessionIdsOfUser } from '../support/store-contents';

const h = useHarness();

describe('concurrent use', () => {
  it('30 logins at once each get their own working session', async () => {
    // The emulator's auto-approve names one user at a time: one concurrent batch per user.
    const agents = await Promise.all(Array.from({ length: 15 }, () => h.login(AGENT_USER)));
    const admins = await Promise.all(Array.from({ length: 15 }, () => h.login(ADMIN_USER)));
    const clients = [...agents, ...admins];
    const ids = new Set(clients.map((c) => c.cookies.get('bff.sid')?.value));
    expect(ids.size).toBe(30);
    const answers = await Promise.all(clients.map((c) => c.get('/session', { csrf: true })));
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(200));
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(15);
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toHaveLength(15);
  });

  it('200 concurrent calls on one session all succeed and each is forwarded once', async () => {
    const client = await h.login(AGENT_USER);
    h.emulator.clearRequests();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 2
          ? client.get('/session', { csrf: true })
          : client.request('HEAD', '/session', { csrf: true }),
      ),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(200);
    expect(h.emulator.requestsFor('getTokensMe')).toHaveLength(100);
    expect(h.emulator.requestsFor('headTokensMe')).toHaveLength(100);
  });

  it('a logout racing with reads ends the session: afterwards every call is 401', async () => {
    const client: BrowserClient = await h.login(ADMIN_USER);
    const cookie = client.cookies.get('bff.sid')?.value as string;
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toHaveLength(1);
    const reads = Array.from({ length: 20 }, () => client.get('/session', { csrf: true }));
    const logout = client.request('DELETE', '/session', { csrf: true });
    const answers = await Promise.all([...reads, logout]);
    // Each read either ran before the logout or saw the session gone; none failed otherwise.
    for (const a of answers.slice(0, 20)) expect([200, 401]).toContain(a.status);
    expect(answers[20]?.status).toBe(204);
    client.cookies.set('bff.sid', { value: cookie, path: '/', attributes: '' });
    expect((await client.get('/session', { csrf: true })).status).toBe(401);
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toEqual([]);
  });
});

describe('a session ending while requests are in flight', () => {
  const endedLines = (): unknown[] =>
    h.logs.map((l) => JSON.parse(l) as { msg?: string }).filter((l) => l.msg === 'session ended');

  it('is counted and logged once when 20 in-flight calls all hear upstream 401', async () => {
    const client = await h.login(AGENT_USER);
    h.emulator.fault({ operation: 'getTokensMe' }, { status: 401, latencyMs: 100 });
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => client.get('/session', { csrf: true })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(401));
    expect((await h.metrics.sessionsEnded.get()).values).toEqual([
      { labels: { reason: 'upstream_401' }, value: 1 },
    ]);
    expect(endedLines()).toHaveLength(1);
    expect(await h.store.countSessions()).toBe(0);
  });

  it('is counted once when a logout races with in-flight calls that then hear 401', async () => {
    const client = await h.login(AGENT_USER);
    h.emulator.fault({ operation: 'getTokensMe' }, { status: 401, latencyMs: 150 });
    const reads = Array.from({ length: 20 }, () => client.get('/session', { csrf: true }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const logout = await client.request('DELETE', '/session', { csrf: true });
    expect(logout.status).toBe(204);
    await Promise.all(reads);
    expect((await h.metrics.sessionsEnded.get()).values).toEqual([
      { labels: { reason: 'logout' }, value: 1 },
    ]);
    expect(endedLines()).toHaveLength(1);
  });
});
