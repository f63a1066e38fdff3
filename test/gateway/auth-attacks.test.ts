import { createHmac, randomBytes } from 'node:crypto';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import type { BrowserClient, StoredCookie } from '../support/browser-client';
import {
  TEST_SESSION_SECRET,
  beginLogin,
  setCookieLines,
  useHarness,
} from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';

const SESSION_COOKIE = 'bff.sid';
const LOGIN_COOKIE = /^bff-login-/;
const TEN_MINUTES_AND_A_SECOND = 10 * 60 * 1000 + 1000;

/** A signed cookie as express-session writes it (cookie-signature: `s:` + id + `.` + HMAC). */
function signedSessionCookie(id: string, secret: string): string {
  const mac = createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${id}.${mac}`);
}

function plant(client: BrowserClient, name: string, value: string, path = '/'): void {
  client.cookies.set(name, { value, path, attributes: '' });
}

/** Flips one character in the middle of a value, keeping it the same length and alphabet. */
function flipOne(value: string): string {
  const at = Math.floor(value.length / 2);
  const swapped = value[at] === 'A' ? 'B' : 'A';
  return `${value.slice(0, at)}${swapped}${value.slice(at + 1)}`;
}

describe('GET /auth/login', () => {
  const h = useHarness();

  describe('refuses an open redirect through returnTo', () => {
    // Raw query strings, so percent-encoded attacks reach the gateway exactly as an attacker writes them.
    const attacks: Array<[string, string]> = [
      ['a protocol-relative URL', `returnTo=${encodeURIComponent('//evil.example')}`],
      ['an absolute URL', `returnTo=${encodeURIComponent('https://evil.example/')}`],
      [
        'a backslash that browsers read as a slash',
        `returnTo=${encodeURIComponent('/\\evil.example')}`,
      ],
      ['two backslashes', `returnTo=${encodeURIComponent('/\\\\evil')}`],
      ['an encoded backslash', 'returnTo=/%5Cevil.example'],
      ['a javascript: URL', `returnTo=${encodeURIComponent('javascript:alert(1)')}`],
      ['a percent-encoded protocol-relative URL', 'returnTo=%2F%2Fevil'],
      ['a tab that browsers strip (/\\t/evil)', 'returnTo=/%09/evil'],
      ['a CR LF header injection', 'returnTo=/%0d%0aSet-Cookie:%20x=1'],
      ['a scheme with one slash', `returnTo=${encodeURIComponent('http:/evil')}`],
      ['a relative path without a leading slash', 'returnTo=evil.example'],
      ['an empty value', 'returnTo='],
      ['a very long path', `returnTo=/${'a'.repeat(5000)}`],
      // 4 KB of UTF-8 in 2,047 characters: the sealed cookie would be 5.7 KB, which browsers drop.
      ['2,047 é characters', `returnTo=/${encodeURIComponent('é'.repeat(2046))}`],
      ['1,025 bytes', `returnTo=/${'a'.repeat(1024)}`],
      // The cookie holds it JSON-escaped: 1,023 quotes take 2,046 bytes there.
      ['1,023 quotes', `returnTo=/${encodeURIComponent('"'.repeat(1023))}`],
      ['a repeated parameter', 'returnTo=/a&returnTo=//evil.example'],
    ];

    it.each(attacks)('with %s: 400, no redirect, no login cookie', async (_name, query) => {
      const res = await h.client().get(`/auth/login?${query}`);
      expectProblem(res, 400);
      expect(res.location).toBeUndefined();
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(h.emulator.requests).toHaveLength(0);
    });
  });

  it('accepts a returnTo of 1,024 bytes, and its login cookie stays well under 4 KB', async () => {
    const browser = h.client();
    const returnTo = `/${'é'.repeat(511)}a`;
    expect(Buffer.byteLength(returnTo)).toBe(1024);
    const login = await beginLogin(h, browser, AGENT_USER, { returnTo });
    expect(login.loginCookie.line.indexOf(';')).toBeLessThan(2048);
    const res = await browser.get(login.callbackUrl);
    expect(res.status).toBe(302);
    expect(decodeURIComponent(res.location ?? '')).toBe(returnTo);
  });

  it('keeps at most 5 logins pending: 100 abandoned ones never lock the browser out', async () => {
    const browser = h.client();
    for (let i = 0; i < 100; i += 1) {
      expect((await browser.get(`/auth/login?returnTo=/${'x'.repeat(1000)}`)).status).toBe(302);
    }
    const pending = [...browser.cookies.keys()].filter((name) => LOGIN_COOKIE.test(name));
    expect(pending).toHaveLength(5);
    const login = await beginLogin(h, browser, AGENT_USER);
    const header = browser.cookieHeaderFor(new URL(login.callbackUrl));
    expect(header.length).toBeLessThan(8 * 1024);
    expect((await browser.get(login.callbackUrl)).status).toBe(302);
  });

  it('drops the oldest pending login when a sixth starts; the other five still finish', async () => {
    const browser = h.client();
    const logins = [];
    for (let i = 0; i < 6; i += 1) logins.push(await beginLogin(h, browser, AGENT_USER));
    const [oldest, ...rest] = logins;
    expectProblem(await browser.get(oldest?.callbackUrl ?? ''), 400);
    for (const login of rest) expect((await browser.get(login.callbackUrl)).status).toBe(302);
  });

  it('brings the user back to a same-origin path with query and fragment', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER, { returnTo: '/app?x=1#frag' });
    const res = await browser.get(login.callbackUrl);
    expect(res.status).toBe(302);
    expect(res.location).toBe('/app?x=1#frag');
    expect(new URL(res.location ?? '', h.url).origin).toBe(h.url);
  });
});

describe('GET /auth/callback', () => {
  const h = useHarness();

  it('refuses a forged state that no login of this browser started', async () => {
    const state = randomBytes(32).toString('base64url');
    const res = await h.client().get(`/auth/callback?code=anything&state=${state}`);
    expectProblem(res, 400);
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
  });

  it("refuses login CSRF: an attacker's callback URL opened in the victim's browser", async () => {
    const attacker = h.client();
    const login = await beginLogin(h, attacker, ADMIN_USER);
    const victim = h.client();
    const res = await victim.get(login.callbackUrl);
    expectProblem(res, 400);
    expect(setCookieLines(res.headers, SESSION_COOKIE)).toEqual([]);
    // The attacker's code was never redeemed on the victim's behalf.
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
  });

  it("refuses login CSRF by cookie tossing: the attacker's own login cookie planted in the victim's browser", async () => {
    // A sibling subdomain (Domain=) or, on plain http, another port of the host can plant a
    // cookie the attacker got for their own login, then send the victim to the callback URL.
    const attacker = h.client();
    const login = await beginLogin(h, attacker, ADMIN_USER);
    const victim = h.client();
    // The victim has a login of their own pending: its binding is not the attacker's.
    await victim.get('/auth/login');
    plant(victim, login.loginCookie.name, login.loginCookie.value, '/auth/callback');

    const res = await victim.get(login.callbackUrl);

    expectProblem(res, 400);
    expect(victim.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
    expect(await h.store.countSessions()).toBe(0);
  });

  it("refuses a login cookie carried with another login's binding", async () => {
    const browser = h.client();
    const tabA = await beginLogin(h, browser, AGENT_USER);
    const tabB = await beginLogin(h, browser, AGENT_USER);
    const bindingOf = (name: string): string => name.replace('bff-login-', 'bff-bind-');
    const bindingB = browser.cookies.get(bindingOf(tabB.loginCookie.name));
    browser.cookies.set(bindingOf(tabA.loginCookie.name), bindingB as StoredCookie);

    expectProblem(await browser.get(tabA.callbackUrl), 400);
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
  });

  it('refuses a callback without a state', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    const code = new URL(login.callbackUrl).searchParams.get('code') ?? '';
    expectProblem(await browser.get(`/auth/callback?code=${code}`), 400);
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
  });

  it('refuses a replayed state once the login completed, even with the login cookie put back', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    expect((await browser.get(login.callbackUrl)).status).toBe(302);
    const sessionIds = Object.keys(await h.store.allSessions());
    const sessionCookie = browser.cookies.get(SESSION_COOKIE)?.value;

    // The one-use cookie was cleared, so the plain replay has no transaction.
    expect([...browser.cookies.keys()].some((name) => LOGIN_COOKIE.test(name))).toBe(false);
    expectProblem(await browser.get(login.callbackUrl), 400);

    // An attacker who captured the cookie sends it again: the state itself is spent.
    plant(browser, login.loginCookie.name, login.loginCookie.value, '/auth/callback');
    const replay = await browser.get(login.callbackUrl);
    expectProblem(replay, 400);
    // No new session: the live one keeps its id (its expiry may roll).
    expect(browser.cookies.get(SESSION_COOKIE)?.value).toBe(sessionCookie);
    expect(Object.keys(await h.store.allSessions())).toEqual(sessionIds);
    expect(h.emulator.requestsFor('token')).toHaveLength(1);
  });

  it('refuses a replayed state in another browser that carries the captured login cookie', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    expect((await browser.get(login.callbackUrl)).status).toBe(302);

    const thief = h.client();
    plant(thief, login.loginCookie.name, login.loginCookie.value, '/auth/callback');
    const replay = await thief.get(login.callbackUrl);
    expectProblem(replay, 400);
    expect(thief.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(await h.store.countSessions()).toBe(1);
  });

  it('refuses a state older than 10 minutes, even with a fresh code', async () => {
    const browser = h.client();
    const start = await browser.get('/auth/login');
    h.emulator.advance(TEN_MINUTES_AND_A_SECOND);
    // The code is minted after the wait, so only the login transaction is stale.
    h.emulator.autoApprove(AGENT_USER.id);
    const authorize = await browser.get(start.location ?? '');
    const res = await browser.get(authorize.location ?? '');
    expectProblem(res, 400);
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
    expect(await h.store.countSessions()).toBe(0);
  });

  it('still accepts a state just under 10 minutes old', async () => {
    const browser = h.client();
    const start = await browser.get('/auth/login');
    h.emulator.advance(10 * 60 * 1000 - 1000);
    h.emulator.autoApprove(AGENT_USER.id);
    const authorize = await browser.get(start.location ?? '');
    expect((await browser.get(authorize.location ?? '')).status).toBe(302);
  });

  it('refuses a tampered login cookie', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    plant(browser, login.loginCookie.name, flipOne(login.loginCookie.value), '/auth/callback');
    const res = await browser.get(login.callbackUrl);
    expectProblem(res, 400);
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
    expect(await h.store.countSessions()).toBe(0);
  });

  it("refuses tab A's state carried with tab B's login cookie", async () => {
    const browser = h.client();
    const tabA = await beginLogin(h, browser, AGENT_USER);
    const tabB = await beginLogin(h, browser, AGENT_USER);
    // Only B's transaction is left, and it is presented under A's cookie name.
    browser.cookies.delete(tabA.loginCookie.name);
    browser.cookies.delete(tabB.loginCookie.name);
    plant(browser, tabA.loginCookie.name, tabB.loginCookie.value, '/auth/callback');

    const res = await browser.get(tabA.callbackUrl);

    expectProblem(res, 400);
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
  });

  it('lets logins started in three tabs all finish, in any order; the last one holds the session', async () => {
    const browser = h.client();
    const tabs = [
      await beginLogin(h, browser, AGENT_USER, { returnTo: '/one' }),
      await beginLogin(h, browser, AGENT_USER, { returnTo: '/two' }),
      await beginLogin(h, browser, AGENT_USER, { returnTo: '/three' }),
    ];
    expect(new Set(tabs.map((t) => t.loginCookie.name)).size).toBe(3);

    const sessionCookies: string[] = [];
    for (const [index, returnTo] of [
      [1, '/two'],
      [2, '/three'],
      [0, '/one'],
    ] as const) {
      const res = await browser.get(tabs[index]?.callbackUrl ?? '');
      expect(res.status).toBe(302);
      // Each tab lands where it asked to: the transactions did not overwrite each other.
      expect(res.location).toBe(returnTo);
      sessionCookies.push(browser.cookies.get(SESSION_COOKIE)?.value ?? '');
    }

    expect(new Set(sessionCookies).size).toBe(3);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    expect(await h.store.countSessions()).toBe(1);
    for (const old of sessionCookies.slice(0, 2)) {
      const other = h.client();
      plant(other, SESSION_COOKIE, old);
      expect((await other.get('/session', { csrf: true })).status).toBe(401);
    }
  });
});

describe('session fixation at login', () => {
  const h = useHarness();

  it("refuses to adopt an attacker's live session id planted before the victim logs in", async () => {
    const attacker = await h.login(AGENT_USER);
    const planted = attacker.cookies.get(SESSION_COOKIE)?.value ?? '';
    expect(planted).not.toBe('');

    const victim = h.client();
    plant(victim, SESSION_COOKIE, planted);
    await h.login(ADMIN_USER, { client: victim });

    const issued = victim.cookies.get(SESSION_COOKIE)?.value;
    expect(issued).toBeDefined();
    expect(issued).not.toBe(planted);
    // The planted id is worth nothing now: it does not reach the victim's session, nor any other.
    const res = await attacker.get('/session', { csrf: true });
    expect(res.status).toBe(401);
    expect((await victim.get('/session', { csrf: true })).status).toBe(200);
    const users = Object.values(await h.store.allSessions()).map((s) => s.user?.id);
    expect(users).toEqual([ADMIN_USER.id]);
  });

  it('refuses to adopt a made-up, correctly signed session id', async () => {
    const madeUp = randomBytes(32).toString('base64url');
    const victim = h.client();
    plant(victim, SESSION_COOKIE, signedSessionCookie(madeUp, TEST_SESSION_SECRET));

    await h.login(AGENT_USER, { client: victim });

    const ids = Object.keys(await h.store.allSessions());
    expect(ids).toHaveLength(1);
    expect(ids).not.toContain(madeUp);
    expect(victim.cookies.get(SESSION_COOKIE)?.value).not.toContain(madeUp);
    const attacker = h.client();
    plant(attacker, SESSION_COOKIE, signedSessionCookie(madeUp, TEST_SESSION_SECRET));
    expect((await attacker.get('/session', { csrf: true })).status).toBe(401);
    // The forgery is well made: the same signing over the real id is accepted.
    const control = h.client();
    plant(control, SESSION_COOKIE, signedSessionCookie(ids[0] ?? '', TEST_SESSION_SECRET));
    expect((await control.get('/session', { csrf: true })).status).toBe(200);
  });

  it("changes the user's own session id when they log in again", async () => {
    const browser = await h.login(AGENT_USER);
    const before = browser.cookies.get(SESSION_COOKIE)?.value ?? '';
    await h.login(AGENT_USER, { client: browser });
    const after = browser.cookies.get(SESSION_COOKIE)?.value;
    expect(after).not.toBe(before);

    const stale = h.client();
    plant(stale, SESSION_COOKIE, before);
    expect((await stale.get('/session', { csrf: true })).status).toBe(401);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    expect(await h.store.countSessions()).toBe(1);
  });
});
