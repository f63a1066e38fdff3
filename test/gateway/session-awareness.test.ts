import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import { storedTokenSets, useHarness } from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';
import { openStream } from '../support/event-stream';

const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.8078.73 Safari/537.36';

const h = useHarness({
  env: {
    SESSION_IDLE_TIMEOUT_SECONDS: '600',
    SESSION_ABSOLUTE_TIMEOUT_SECONDS: '7200',
    SESSION_WARNING_SECONDS: '60',
  },
});

describe('GET /session/user', () => {
  it('says who is logged in and when each deadline is, from the session alone', async () => {
    const browser = await h.login(AGENT_USER);
    h.emulator.clearRequests();
    const res = await browser.get('/session/user', { csrf: true });
    expect(res.status).toBe(200);
    const body = res.json<{
      user: { id: string; name: string };
      session: Record<string, string>;
      token: { expiresAt: string; refreshable: boolean; idlesAt: string | null };
    }>();
    expect(body.user).toEqual({ id: AGENT_USER.id, name: AGENT_USER.name });
    const now = h.emulator.now();
    const created = Date.parse(body.session.createdAt ?? '');
    expect(Math.abs(created - now)).toBeLessThan(5000);
    expect(Date.parse(body.session.idleExpiresAt ?? '') - created).toBe(600_000);
    expect(Date.parse(body.session.absoluteExpiresAt ?? '') - created).toBe(7_200_000);
    expect(body.session.expiresAt).toBe(body.session.idleExpiresAt);
    expect(body.token.refreshable).toBe(true);
    expect(Date.parse(body.token.expiresAt)).toBeGreaterThan(now);
    expect(res.text).not.toMatch(/access|refresh_token|Bearer/i);
    // No Genesys call for it.
    expect(h.emulator.requests).toHaveLength(0);
  });

  it('keeps token.idlesAt from the TokenInfo answers that pass through', async () => {
    h.emulator.setIdleTimeout({ enableIdleTokenTimeout: true, idleTokenTimeoutSeconds: 900 });
    const browser = await h.login(AGENT_USER);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    const info = (await browser.get('/session', { csrf: true })).json<{
      dateTokenIdles?: string;
    }>();
    const user = (await browser.get('/session/user', { csrf: true })).json<{
      token: { idlesAt: string | null };
    }>();
    expect(info.dateTokenIdles).toBeDefined();
    expect(user.token.idlesAt).not.toBeNull();
    expect(
      Math.abs(Date.parse(user.token.idlesAt ?? '') - Date.parse(info.dateTokenIdles ?? '')),
    ).toBeLessThan(60_000);
  });

  it('answers 401 without a session and 403 without X-CSRF', async () => {
    expectProblem(await h.client().get('/session/user', { csrf: true }), 401);
    const browser = await h.login(AGENT_USER);
    expectProblem(await browser.get('/session/user'), 403);
  });
});

describe('GET /session/events', () => {
  it('tells an open stream of a logout at once, then closes it; no X-CSRF needed', async () => {
    const browser = await h.login(AGENT_USER);
    const stream = await openStream(browser);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['cache-control']).toBe('no-store');
    const started = Date.now();
    expect((await browser.request('DELETE', '/session', { csrf: true })).status).toBe(204);
    const ended = await stream.next('ended', 2000);
    expect(ended.data).toEqual({ reason: 'logout' });
    expect(Date.now() - started).toBeLessThan(2000);
    await stream.closed;
    expect(stream.text()).not.toMatch(/Bearer|access_token/);
  });

  it('reaches every stream of the session, and only that session', async () => {
    const first = await h.login(AGENT_USER);
    const second = await h.login(AGENT_USER);
    const a1 = await openStream(first);
    const a2 = await openStream(first);
    const b = await openStream(second);
    await first.request('DELETE', '/session', { csrf: true });
    expect((await a1.next('ended', 2000)).data.reason).toBe('logout');
    expect((await a2.next('ended', 2000)).data.reason).toBe('logout');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(b.events).toEqual([]);
    b.close();
  });

  it("ends every stream of a user an admin revokes, with reason 'revoked'", async () => {
    const agent = await h.login(AGENT_USER);
    const admin = await h.login(ADMIN_USER);
    const stream = await openStream(agent);
    const res = await admin.request('DELETE', `/admin/users/${AGENT_USER.id}/tokens`, {
      csrf: true,
    });
    expect(res.status).toBe(204);
    expect((await stream.next('ended', 2000)).data).toEqual({ reason: 'revoked' });
  });

  it("says 'expiring' once, SESSION_WARNING_SECONDS before the idle deadline, by the gateway's clock", async () => {
    const browser = await h.login(AGENT_USER);
    const stream = await openStream(browser);
    // 600 s idle, 60 s warning: nothing at 500 s, 'expiring' at 545 s.
    h.emulator.advance(500_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(stream.events).toEqual([]);
    h.emulator.advance(45_000);
    const expiring = await stream.next('expiring', 3000);
    expect(expiring.data.kind).toBe('idle');
    const user = await h.store.allSessions();
    const session = Object.values(user)[0];
    expect(Date.parse(String(expiring.data.expiresAt))).toBe((session?.lastSeenAt ?? 0) + 600_000);
    h.emulator.advance(60_000);
    expect((await stream.next('ended', 3000)).data).toEqual({ reason: 'expired' });
    expect(stream.events.filter((e) => e.event === 'expiring')).toHaveLength(1);
  });

  it('warns, then ends, an idle user whose page polls with preserveIdleTTL=true', async () => {
    const browser = await h.login(AGENT_USER);
    const stream = await openStream(browser);
    // The page polls every 100 s of the gateway's clock, never counting as activity.
    for (let t = 0; t < 5; t += 1) {
      h.emulator.advance(100_000);
      const poll = await browser.request('HEAD', '/session?preserveIdleTTL=true', { csrf: true });
      expect(poll.status).toBe(200);
    }
    h.emulator.advance(45_000);
    expect((await stream.next('expiring', 3000)).data.kind).toBe('idle');
    h.emulator.advance(60_000);
    expect((await stream.next('ended', 3000)).data).toEqual({ reason: 'expired' });
    const late = await browser.request('HEAD', '/session?preserveIdleTTL=true', { csrf: true });
    expect(late.status).toBe(401);
  });

  it('never extends the idle timer: a session with an open stream still ends idle', async () => {
    const browser = await h.login(AGENT_USER);
    const before = Object.values(await h.store.allSessions())[0]?.lastSeenAt;
    h.emulator.clearRequests();
    h.emulator.advance(300_000);
    const stream = await openStream(browser);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(Object.values(await h.store.allSessions())[0]?.lastSeenAt).toBe(before);
    expect(h.emulator.requests.filter((r) => r.path.startsWith('/api/'))).toEqual([]);
    stream.close();
  });

  it('refuses a cross-site or foreign-origin stream, and one without a session', async () => {
    const browser = await h.login(AGENT_USER);
    const crossSite = await openStream(browser, { 'Sec-Fetch-Site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const foreign = await openStream(browser, { Origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    const anonymous = await openStream(h.client());
    expect(anonymous.status).toBe(401);
  });

  it('holds at most 5 streams per session: the sixth is 429', async () => {
    const browser = await h.login(AGENT_USER);
    const open = [];
    for (let i = 0; i < 5; i += 1) open.push(await openStream(browser));
    expect(open.map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
    const sixth = await openStream(browser);
    expect(sixth.status).toBe(429);
    open[0]?.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await openStream(browser);
    expect(again.status).toBe(200);
    for (const s of [...open, again]) s.close();
  });
});

describe('my sessions', () => {
  it("lists the user's sessions with opaque handles, a short browser summary and the current one", async () => {
    const laptop = await h.login(AGENT_USER);
    const phone = h.client();
    await h.login(AGENT_USER, { client: phone });
    await h.login(ADMIN_USER);
    const res = await laptop.get('/session/all', { csrf: true });
    expect(res.status).toBe(200);
    const { sessions } = res.json<{
      sessions: Array<{ handle: string; current: boolean; userAgent: string; createdAt: string }>;
    }>();
    expect(sessions).toHaveLength(2);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    const ids = Object.keys(await h.store.allSessions());
    for (const s of sessions) {
      expect(s.handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
      for (const id of ids) expect(id).not.toContain(s.handle);
    }
    expect(res.text).not.toContain(laptop.cookies.get('bff.sid')?.value ?? 'x');
  });

  it('summarizes the browser, never echoing the raw User-Agent', async () => {
    const browser = h.client();
    const start = await browser.get('/auth/login');
    h.emulator.autoApprove(AGENT_USER.id);
    const authorize = await browser.get(start.location ?? '');
    await browser.request('GET', authorize.location ?? '', {
      headers: { 'User-Agent': `${CHROME} <b>` },
    });
    const { sessions } = (await browser.get('/session/all', { csrf: true })).json<{
      sessions: Array<{ userAgent: string }>;
    }>();
    expect(sessions[0]?.userAgent).toBe('Chrome 156 on Linux');
  });

  it('ends another of my sessions by handle: its token is revoked and its streams hear it', async () => {
    const laptop = await h.login(AGENT_USER);
    const phone = await h.login(AGENT_USER);
    const phoneStream = await openStream(phone);
    const tokens = await storedTokenSets(h);
    const { sessions } = (await laptop.get('/session/all', { csrf: true })).json<{
      sessions: Array<{ handle: string; current: boolean }>;
    }>();
    const other = sessions.find((s) => !s.current);
    const res = await laptop.request('DELETE', `/session/all/${other?.handle}`, { csrf: true });
    expect(res.status).toBe(204);
    expect((await phoneStream.next('ended', 2000)).data).toEqual({ reason: 'revoked' });
    expect((await phone.get('/session', { csrf: true })).status).toBe(401);
    expect((await laptop.get('/session', { csrf: true })).status).toBe(200);
    expect(tokens.filter((t) => h.emulator.isTokenActive(t.accessToken))).toHaveLength(1);
  });

  it("answers 404 for another user's handle or a made-up one, and ends nothing", async () => {
    const agent = await h.login(AGENT_USER);
    const admin = await h.login(ADMIN_USER);
    const { sessions } = (await admin.get('/session/all', { csrf: true })).json<{
      sessions: Array<{ handle: string }>;
    }>();
    expectProblem(
      await agent.request('DELETE', `/session/all/${sessions[0]?.handle}`, { csrf: true }),
      404,
    );
    expectProblem(await agent.request('DELETE', '/session/all/not-a-handle', { csrf: true }), 404);
    expect(await h.store.countSessions()).toBe(2);
  });

  it('ends every other session of mine with DELETE /session/others', async () => {
    const keep = await h.login(AGENT_USER);
    const gone1 = await h.login(AGENT_USER);
    const gone2 = await h.login(AGENT_USER);
    const admin = await h.login(ADMIN_USER);
    expect((await keep.request('DELETE', '/session/others', { csrf: true })).status).toBe(204);
    expect((await keep.get('/session', { csrf: true })).status).toBe(200);
    expect((await gone1.get('/session', { csrf: true })).status).toBe(401);
    expect((await gone2.get('/session', { csrf: true })).status).toBe(401);
    expect((await admin.get('/session', { csrf: true })).status).toBe(200);
  });
});
