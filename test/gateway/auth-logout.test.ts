import { AGENT_USER } from '../../emulator/genesys-emulator';
import type { BrowserClient, ClientResponse } from '../support/browser-client';
import {
  TEST_CLIENT_ID,
  setCookieLines,
  useHarness,
  storedTokenSets,
  type Harness,
} from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';

const SESSION_COOKIE = 'bff.sid';

interface LoggedIn {
  browser: BrowserClient;
  /** The session cookie value, kept aside: the jar forgets it once the gateway clears it. */
  cookie: string;
  accessToken: string;
}

async function logIn(h: Harness): Promise<LoggedIn> {
  const browser = await h.login(AGENT_USER);
  const [tokens] = await storedTokenSets(h);
  h.emulator.clearRequests();
  return {
    browser,
    cookie: browser.cookies.get(SESSION_COOKIE)?.value ?? '',
    accessToken: tokens?.accessToken ?? '',
  };
}

/** Asks GET /session with a given session cookie, as a browser that kept it would. */
async function sessionStatusWith(h: Harness, cookie: string): Promise<number> {
  const other = h.client();
  other.cookies.set(SESSION_COOKIE, { value: cookie, path: '/', attributes: '' });
  return (await other.get('/session', { csrf: true })).status;
}

function expectCookieCleared(res: ClientResponse): void {
  const [line, ...more] = setCookieLines(res.headers, SESSION_COOKIE);
  expect(more).toHaveLength(0);
  expect(line).toMatch(/^bff\.sid=;/);
  expect(line).toMatch(/;\s*Path=\//i);
  const expires = /;\s*Expires=([^;]+)/i.exec(line ?? '')?.[1] ?? '';
  expect(Date.parse(expires)).toBeLessThan(Date.now());
}

describe('POST /auth/logout', () => {
  const h = useHarness();

  it('accepts an HTML form post with the public Origin and no X-CSRF: 303 to /, session gone, token revoked', async () => {
    const { browser, cookie, accessToken } = await logIn(h);

    const res = await browser.request('POST', '/auth/logout', {
      headers: {
        Origin: h.url,
        'Sec-Fetch-Site': 'same-origin',
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: '',
    });

    expect(res.status).toBe(303);
    expect(res.location).toBe('/');
    expectCookieCleared(res);
    expect(await sessionStatusWith(h, cookie)).toBe(401);
    expect(await h.store.countSessions()).toBe(0);
    const [revoke, ...more] = h.emulator.requestsFor('deleteTokensMe');
    expect(more).toHaveLength(0);
    expect(revoke?.headers.authorization).toBe(`Bearer ${accessToken}`);
    expect(revoke?.headers['inin-correlation-id']).toBe(res.headers.get('x-request-id'));
    expect(h.emulator.isTokenActive(accessToken)).toBe(false);
  });

  it('accepts X-CSRF: 1 without an Origin', async () => {
    const { browser, cookie, accessToken } = await logIn(h);
    const res = await browser.request('POST', '/auth/logout', { csrf: true });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/');
    expect(await sessionStatusWith(h, cookie)).toBe(401);
    expect(h.emulator.isTokenActive(accessToken)).toBe(false);
  });

  it('refuses a cross-site logout (foreign Origin) and keeps the session', async () => {
    const { browser, cookie, accessToken } = await logIn(h);
    const res = await browser.request('POST', '/auth/logout', {
      headers: { Origin: 'https://evil.example' },
      csrf: true,
    });
    expectProblem(res, 403);
    expect(setCookieLines(res.headers, SESSION_COOKIE)).toEqual([]);
    expect(await sessionStatusWith(h, cookie)).toBe(200);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(0);
    expect(h.emulator.isTokenActive(accessToken)).toBe(true);
  });

  it('refuses a logout with neither Origin nor X-CSRF (forged form or script) and keeps the session', async () => {
    const { browser, cookie } = await logIn(h);
    const res = await browser.request('POST', '/auth/logout');
    expectProblem(res, 403);
    expect(await sessionStatusWith(h, cookie)).toBe(200);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(0);
  });

  it('refuses a logout from another app on the same site (Sec-Fetch-Site: same-site)', async () => {
    const { browser, cookie } = await logIn(h);
    const res = await browser.request('POST', '/auth/logout', {
      headers: { 'Sec-Fetch-Site': 'same-site' },
      csrf: true,
    });
    expectProblem(res, 403);
    // Refused before the session is read: not even its idle expiry rolls.
    expect(setCookieLines(res.headers, SESSION_COOKIE)).toEqual([]);
    expect(await sessionStatusWith(h, cookie)).toBe(200);
  });

  it('refuses a GET logout (an <img> on any page could send it) with 405, and the session survives', async () => {
    const { browser, cookie } = await logIn(h);
    const res = await browser.get('/auth/logout');
    expectProblem(res, 405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await sessionStatusWith(h, cookie)).toBe(200);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(0);
  });

  it('without a session still answers 303 to /', async () => {
    const res = await h.client().request('POST', '/auth/logout', { csrf: true });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/');
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(0);
  });
});

describe('POST /auth/logout with IDP_LOGOUT=true', () => {
  const h = useHarness({ env: { IDP_LOGOUT: 'true' } });

  it('ends at the Genesys logout page, which sends the browser back to the public origin', async () => {
    const { browser, cookie } = await logIn(h);

    const res = await browser.request('POST', '/auth/logout', { headers: { Origin: h.url } });

    expect(res.status).toBe(303);
    const target = new URL(res.location ?? '');
    expect(`${target.origin}${target.pathname}`).toBe(`${h.emulator.url}/logout`);
    expect(Object.fromEntries(target.searchParams)).toEqual({
      client_id: TEST_CLIENT_ID,
      redirect_uri: `${h.url}/`,
    });
    expect(await sessionStatusWith(h, cookie)).toBe(401);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(1);

    // With the origin registered as a post-logout URI, Genesys brings the user home.
    h.emulator.addClient({
      id: TEST_CLIENT_ID,
      secret: 'test-client-secret-value',
      name: 'tokens-bff tests',
      redirectUris: [`${h.url}/auth/callback`, `${h.url}/`],
    });
    const idp = await browser.get(target.toString());
    expect(idp.status).toBe(302);
    expect(idp.location).toBe(`${h.url}/`);
  });
});

describe('DELETE /session', () => {
  const h = useHarness({ env: { UPSTREAM_TIMEOUT_MS: '200' } });

  it('answers 204, clears the cookie, destroys the session and revokes the token', async () => {
    const { browser, cookie, accessToken } = await logIn(h);

    const res = await browser.request('DELETE', '/session', { csrf: true });

    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectCookieCleared(res);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(await sessionStatusWith(h, cookie)).toBe(401);
    expect(await h.store.countSessions()).toBe(0);
    const [revoke] = h.emulator.requestsFor('deleteTokensMe');
    expect(revoke?.headers.authorization).toBe(`Bearer ${accessToken}`);
    expect(revoke?.headers.cookie).toBeUndefined();
    expect(h.emulator.isTokenActive(accessToken)).toBe(false);
  });

  it('is idempotent: a second DELETE answers 204 and asks Genesys nothing', async () => {
    const { browser, cookie } = await logIn(h);
    expect((await browser.request('DELETE', '/session', { csrf: true })).status).toBe(204);

    const again = h.client();
    again.cookies.set(SESSION_COOKIE, { value: cookie, path: '/', attributes: '' });
    const res = await again.request('DELETE', '/session', { csrf: true });

    expect(res.status).toBe(204);
    expectCookieCleared(res);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(1);
  });

  it('answers 204 without any cookie at all', async () => {
    const res = await h.client().request('DELETE', '/session', { csrf: true });
    expect(res.status).toBe(204);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(0);
    expect(await h.store.countSessions()).toBe(0);
  });

  it('refuses a cross-site DELETE without X-CSRF, and the session survives', async () => {
    const { browser, cookie, accessToken } = await logIn(h);
    const res = await browser.request('DELETE', '/session');
    expectProblem(res, 403);
    expect(await sessionStatusWith(h, cookie)).toBe(200);
    expect(h.emulator.isTokenActive(accessToken)).toBe(true);
  });

  it('when Genesys is down, still ends the local session', async () => {
    const { browser, cookie } = await logIn(h);
    h.emulator.fault({ operation: 'deleteTokensMe' }, { reset: true });

    const res = await browser.request('DELETE', '/session', { csrf: true });

    expect(res.status).toBe(204);
    expectCookieCleared(res);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(1);
    expect(await sessionStatusWith(h, cookie)).toBe(401);
    expect(await h.store.countSessions()).toBe(0);
  });

  it('when Genesys answers 500, still ends the local session', async () => {
    const { browser, cookie } = await logIn(h);
    h.emulator.fault({ operation: 'deleteTokensMe' }, { status: 500 });
    const res = await browser.request('DELETE', '/session', { csrf: true });
    expect(res.status).toBe(204);
    expect(await sessionStatusWith(h, cookie)).toBe(401);
  });

  it('when Genesys is slower than UPSTREAM_TIMEOUT_MS, answers 204 in time and the session is gone', async () => {
    const { browser, cookie } = await logIn(h);
    h.emulator.fault({ operation: 'deleteTokensMe' }, { latencyMs: 2_000 });

    const started = Date.now();
    const res = await browser.request('DELETE', '/session', { csrf: true });

    expect(res.status).toBe(204);
    expect(Date.now() - started).toBeLessThan(1_500);
    expectCookieCleared(res);
    expect(await sessionStatusWith(h, cookie)).toBe(401);
    expect(await h.store.countSessions()).toBe(0);
  });
});

describe('logout when Genesys hangs, with the default UPSTREAM_TIMEOUT_MS (10 s)', () => {
  const h = useHarness({ env: { UPSTREAM_TIMEOUT_MS: '10000' } });

  it('bounds the revoke call on its own (about 2 s): 204, the session is gone', async () => {
    const { browser, cookie } = await logIn(h);
    h.emulator.fault({ operation: 'deleteTokensMe' }, { hang: true });

    const started = Date.now();
    const res = await browser.request('DELETE', '/session', { csrf: true });
    const waited = Date.now() - started;

    expect(res.status).toBe(204);
    expect(waited).toBeGreaterThanOrEqual(1_900);
    expect(waited).toBeLessThan(4_000);
    expect(await sessionStatusWith(h, cookie)).toBe(401);
    const revocations = await h.metrics.revocations.get();
    expect(revocations.values).toContainEqual(
      expect.objectContaining({ labels: { kind: 'self', outcome: 'unreachable' }, value: 1 }),
    );
  });

  it('lets other Genesys calls keep the full UPSTREAM_TIMEOUT_MS', async () => {
    const { browser } = await logIn(h);
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 2_500 });
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
  });
});
