import { createHash } from 'node:crypto';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import type { RecordedRequest } from '../../emulator/genesys-emulator';
import type { ClientResponse } from '../support/browser-client';
import {
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  beginLogin,
  setCookieLines,
  useHarness,
  storedTokenSets,
  type Harness,
} from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';

const SESSION_COOKIE = 'bff.sid';

function formOf(request: RecordedRequest | undefined): URLSearchParams {
  if (!request) throw new Error('no such upstream request');
  return new URLSearchParams(request.body);
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** A callback that failed must leave nothing behind: no cookie, no record. */
async function expectNoSession(h: Harness, res: ClientResponse): Promise<void> {
  expect(setCookieLines(res.headers, SESSION_COOKIE)).toEqual([]);
  expect(await h.store.countSessions()).toBe(0);
}

describe('GET /auth/login', () => {
  const h = useHarness();

  it('redirects to the Genesys authorize endpoint with a code + PKCE S256 request', async () => {
    const res = await h.client().get('/auth/login');
    expect(res.status).toBe(302);
    const location = new URL(res.location ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${h.emulator.url}/oauth/authorize`);
    const params = Object.fromEntries(location.searchParams);
    expect(params).toEqual({
      response_type: 'code',
      client_id: TEST_CLIENT_ID,
      redirect_uri: `${h.url}/auth/callback`,
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/),
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
    });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('draws a fresh state and PKCE challenge for every login', async () => {
    const browser = h.client();
    const first = new URL((await browser.get('/auth/login')).location ?? '');
    const second = new URL((await browser.get('/auth/login')).location ?? '');
    expect(first.searchParams.get('state')).not.toBe(second.searchParams.get('state'));
    expect(first.searchParams.get('code_challenge')).not.toBe(
      second.searchParams.get('code_challenge'),
    );
  });

  it('creates no session before the login completes', async () => {
    const res = await h.client().get('/auth/login');
    expect(setCookieLines(res.headers, SESSION_COOKIE)).toEqual([]);
    expect(await h.store.countSessions()).toBe(0);
  });
});

describe('wrong methods on /auth/login and /auth/callback', () => {
  const h = useHarness();

  it.each([
    ['POST', '/auth/login'],
    ['DELETE', '/auth/login'],
    ['POST', '/auth/callback'],
    ['PUT', '/auth/callback'],
  ])('%s %s answers 405 with Allow: GET, HEAD', async (method, path) => {
    const res = await h.client().request(method, path, { headers: { Origin: h.url } });
    expectProblem(res, 405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(res.headers.getSetCookie()).toEqual([]);
  });
});

describe('GET /auth/callback', () => {
  describe('with a confidential client', () => {
    const h = useHarness();

    it('redeems the code with Basic client auth and the PKCE verifier, then redirects to /', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      const res = await browser.get(login.callbackUrl);

      expect(res.status).toBe(302);
      expect(res.location).toBe('/');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const [tokenCall, ...more] = h.emulator.requestsFor('token');
      expect(more).toHaveLength(0);
      const basic = Buffer.from(`${TEST_CLIENT_ID}:${TEST_CLIENT_SECRET}`).toString('base64');
      expect(tokenCall?.headers.authorization).toBe(`Basic ${basic}`);
      const form = formOf(tokenCall);
      expect(form.get('grant_type')).toBe('authorization_code');
      expect(form.get('code')).toBe(new URL(login.callbackUrl).searchParams.get('code'));
      expect(form.get('redirect_uri')).toBe(`${h.url}/auth/callback`);
      // The verifier is the one behind the challenge sent to /oauth/authorize (RFC 7636 §4.6).
      const verifier = form.get('code_verifier') ?? '';
      expect(verifier).toMatch(/^[A-Za-z0-9\-._~]{43,128}$/);
      expect(s256(verifier)).toBe(login.authorizeUrl.searchParams.get('code_challenge'));
      // The secret travels only in the Authorization header.
      expect(form.has('client_secret')).toBe(false);
    });

    it('looks the user up with the new token and keeps id and name server-side', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, ADMIN_USER);
      await browser.get(login.callbackUrl);

      const [me] = h.emulator.requestsFor('getUsersMe');
      const [tokens] = await storedTokenSets(h);
      expect(me?.headers.authorization).toBe(`Bearer ${tokens?.accessToken}`);
      const sessions = Object.values(await h.store.allSessions());
      expect(sessions).toHaveLength(1);
      expect(sessions[0]?.user).toEqual({ id: ADMIN_USER.id, name: ADMIN_USER.name });
    });

    it('redirects to the returnTo given at login', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER, { returnTo: '/app/tokens?tab=2' });
      const res = await browser.get(login.callbackUrl);
      expect(res.status).toBe(302);
      expect(res.location).toBe('/app/tokens?tab=2');
    });

    it('gives a session that GET /session forwards with the bearer token and request id', async () => {
      const browser = await h.login(AGENT_USER);
      const [tokens] = await storedTokenSets(h);
      h.emulator.clearRequests();

      const res = await browser.get('/session', { csrf: true });

      expect(res.status).toBe(200);
      expect(res.json()).toMatchObject({ organization: expect.any(Object) });
      const [upstream, ...more] = h.emulator.requestsFor('getTokensMe');
      expect(more).toHaveLength(0);
      expect(upstream?.headers.authorization).toBe(`Bearer ${tokens?.accessToken}`);
      expect(upstream?.headers['inin-correlation-id']).toBe(res.headers.get('x-request-id'));
      expect(upstream?.headers.cookie).toBeUndefined();
      expect(h.emulator.isTokenActive(tokens?.accessToken ?? '')).toBe(true);
    });
  });

  describe('with a public (PKCE-only) client', () => {
    const h = useHarness({ publicClient: true });

    it('names the client in the form, sends the verifier and no Basic header', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      const res = await browser.get(login.callbackUrl);

      expect(res.status).toBe(302);
      const [tokenCall] = h.emulator.requestsFor('token');
      expect(tokenCall?.headers.authorization).toBeUndefined();
      const form = formOf(tokenCall);
      expect(form.get('client_id')).toBe(TEST_CLIENT_ID);
      expect(s256(form.get('code_verifier') ?? '')).toBe(
        login.authorizeUrl.searchParams.get('code_challenge'),
      );
      expect(form.has('client_secret')).toBe(false);
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    });
  });

  describe('when Genesys or the user says no', () => {
    const h = useHarness({ env: { UPSTREAM_TIMEOUT_MS: '200' } });

    it('refuses a login the user denied on the Genesys page, and makes no session', async () => {
      const browser = h.client();
      const start = await browser.get('/auth/login');
      h.emulator.autoApprove(null);
      const page = await browser.get(start.location ?? '');
      expect(page.status).toBe(200);
      expect(page.text).toContain('id="deny"');
      // The form posts back the authorize parameters as hidden fields, plus the Deny button.
      const form = new URLSearchParams(new URL(start.location ?? '').searchParams);
      form.set('deny', '1');
      const denied = await browser.request('POST', `${h.emulator.url}/oauth/authorize/approve`, {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      expect(denied.status).toBe(302);
      expect(new URL(denied.location ?? '').searchParams.get('error')).toBe('access_denied');

      const res = await browser.get(denied.location ?? '');

      const body = expectProblem(res, 403);
      expect(body.detail).toContain('access_denied');
      expect(h.emulator.requestsFor('token')).toHaveLength(0);
      await expectNoSession(h, res);
    });

    it('does not echo an error code that is not shaped like an OAuth one', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      const res = await browser.get(
        `/auth/callback?state=${login.state}&error=${encodeURIComponent('<script>x</script>')}`,
      );
      const body = expectProblem(res, 400);
      expect(res.text).not.toContain('<script>');
      expect(body.detail).toContain('unknown_error');
      await expectNoSession(h, res);
    });

    it('answers 400 when Genesys rejects a made-up code', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      const res = await browser.get(`/auth/callback?code=not-a-real-code&state=${login.state}`);
      const body = expectProblem(res, 400);
      expect(body.detail).toContain('invalid_grant');
      expect(h.emulator.requestsFor('token')).toHaveLength(1);
      await expectNoSession(h, res);
    });

    it('answers 400 for a code that already bought a session (code reuse)', async () => {
      const first = h.client();
      const used = await beginLogin(h, first, AGENT_USER);
      expect((await first.get(used.callbackUrl)).status).toBe(302);
      const code = new URL(used.callbackUrl).searchParams.get('code') ?? '';

      const second = h.client();
      const login = await beginLogin(h, second, AGENT_USER);
      const res = await second.get(`/auth/callback?code=${code}&state=${login.state}`);

      expectProblem(res, 400);
      expect(setCookieLines(res.headers, SESSION_COOKIE)).toEqual([]);
      expect(await h.store.countSessions()).toBe(1);
    });

    it('answers 400 for a code that expired before the browser came back', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      // Genesys codes live 60 s; the login transaction lives 10 min.
      h.emulator.advance(61_000);
      const res = await browser.get(login.callbackUrl);
      const body = expectProblem(res, 400);
      expect(body.detail).toContain('invalid_grant');
      await expectNoSession(h, res);
    });

    it('answers 502 when the token endpoint cannot be reached', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      h.emulator.fault({ operation: 'token' }, { reset: true });
      const res = await browser.get(login.callbackUrl);
      expectProblem(res, 502);
      await expectNoSession(h, res);
    });

    it('answers 502 when the token endpoint fails with a server error', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      h.emulator.fault({ operation: 'token' }, { status: 503 });
      const res = await browser.get(login.callbackUrl);
      expectProblem(res, 502);
      await expectNoSession(h, res);
    });

    it('answers 504 when the token endpoint is slower than UPSTREAM_TIMEOUT_MS', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      h.emulator.fault({ operation: 'token' }, { latencyMs: 2_000 });
      const started = Date.now();
      const res = await browser.get(login.callbackUrl);
      expectProblem(res, 504);
      expect(Date.now() - started).toBeLessThan(1_500);
      await expectNoSession(h, res);
    });

    it('answers 502 when the user lookup fails after the code was redeemed', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      h.emulator.fault({ operation: 'getUsersMe' }, { status: 500 });
      const res = await browser.get(login.callbackUrl);
      expectProblem(res, 502);
      expect(h.emulator.requestsFor('token')).toHaveLength(1);
      await expectNoSession(h, res);
    });

    it('revokes the token it was issued when no session could be made from it', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      h.emulator.fault({ operation: 'getUsersMe' }, { status: 500 });
      expectProblem(await browser.get(login.callbackUrl), 502);
      const [revoke] = h.emulator.requestsFor('deleteTokensMe');
      const bearer = String(revoke?.headers.authorization).replace(/^Bearer /, '');
      expect(bearer.length).toBeGreaterThan(10);
      expect(h.emulator.isTokenActive(bearer)).toBe(false);
    });

    it('answers 502 when the user lookup returns garbage', async () => {
      const browser = h.client();
      const login = await beginLogin(h, browser, AGENT_USER);
      h.emulator.fault({ operation: 'getUsersMe' }, { malformed: true });
      const res = await browser.get(login.callbackUrl);
      expectProblem(res, 502);
      await expectNoSession(h, res);
    });

    it('keeps no half-made session when a failed callback follows a live one', async () => {
      const browser = await h.login(AGENT_USER);
      const live = browser.cookies.get(SESSION_COOKIE)?.value;
      const before = Object.keys(await h.store.allSessions());
      const login = await beginLogin(h, browser, ADMIN_USER);
      h.emulator.fault({ operation: 'getUsersMe' }, { status: 500 });
      const res = await browser.get(login.callbackUrl);
      expectProblem(res, 502);
      // The live session may have its expiry rolled, but no other session id is handed out.
      for (const line of setCookieLines(res.headers, SESSION_COOKIE)) {
        expect(line.startsWith(`${SESSION_COOKIE}=${live};`)).toBe(true);
      }
      expect(browser.cookies.get(SESSION_COOKIE)?.value).toBe(live);
      expect(Object.keys(await h.store.allSessions())).toEqual(before);
      const sessions = Object.values(await h.store.allSessions());
      expect(sessions[0]?.user?.id).toBe(AGENT_USER.id);
    });
  });
});

describe('logging in again over a live session', () => {
  const h = useHarness();

  it("revokes the replaced session's Genesys token; the new session works", async () => {
    const browser = await h.login(AGENT_USER);
    const [first] = await storedTokenSets(h);
    expect(h.emulator.isTokenActive(first?.accessToken ?? '')).toBe(true);

    await h.login(ADMIN_USER, { client: browser });

    expect(h.emulator.isTokenActive(first?.accessToken ?? '')).toBe(false);
    const [second] = await storedTokenSets(h);
    expect(second?.accessToken).not.toBe(first?.accessToken);
    expect(h.emulator.isTokenActive(second?.accessToken ?? '')).toBe(true);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    expect(await h.store.countSessions()).toBe(1);
    const ended = await h.metrics.sessionsEnded.get();
    expect(ended.values).toEqual([{ labels: { reason: 'replaced' }, value: 1 }]);
    const revoked = await h.metrics.revocations.get();
    expect(revoked.values).toEqual([
      expect.objectContaining({ labels: { kind: 'replaced', outcome: 'ok' }, value: 1 }),
    ]);
  });

  it('still logs in when the revoke of the replaced token fails', async () => {
    const browser = await h.login(AGENT_USER);
    h.emulator.fault({ operation: 'deleteTokensMe' }, { status: 503 });
    await h.login(AGENT_USER, { client: browser });
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    const revoked = await h.metrics.revocations.get();
    expect(revoked.values).toEqual([
      expect.objectContaining({ labels: { kind: 'replaced', outcome: 'status_503' }, value: 1 }),
    ]);
  });

  it('revokes nothing when the browser had no live session', async () => {
    await h.login(AGENT_USER);
    expect(h.emulator.requestsFor('deleteTokensMe')).toHaveLength(0);
  });
});
