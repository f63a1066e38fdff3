import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import type { BrowserClient, ClientResponse } from '../support/browser-client';
import {
  TEST_CLIENT_ID,
  sessionMaxAge,
  setAccessTokenLifetime,
  startHarness,
  storedTokenSets,
  type Harness,
  type HarnessOptions,
} from '../support/gateway-harness';

/** Genesys's shortest access-token lifetime: expiry is reached without idling the session out. */
const TOKEN_SECONDS = 300;

function grants(h: Harness): (string | null)[] {
  return h.emulator.requestsFor('token').map((r) => new URLSearchParams(r.body).get('grant_type'));
}

function refreshCount(h: Harness): number {
  return grants(h).filter((g) => g === 'refresh_token').length;
}

/** Logs in and returns the callback's answer too (it carries the first session cookie). */
async function loginWithCallback(
  h: Harness,
): Promise<{ browser: BrowserClient; callback: ClientResponse }> {
  const browser = h.client();
  h.emulator.autoApprove(AGENT_USER.id);
  const start = await browser.get('/auth/login');
  const authorize = await browser.get(start.location ?? '');
  const callback = await browser.get(authorize.location ?? '');
  expect(callback.status).toBe(302);
  return { browser, callback };
}

describe('session lifetimes and token refresh', () => {
  let h: Harness;

  async function start(options: HarnessOptions = {}, tokenSeconds = TOKEN_SECONDS): Promise<void> {
    h = await startHarness(options);
    setAccessTokenLifetime(h, tokenSeconds);
    // express-session dates the cookie (and so the store row) with Date.now(), not with the
    // gateway's injected clock: put both on the emulator clock, or advance() would leave
    // every touched session expiring on the wall clock.
    const emulator = h.emulator;
    jest.spyOn(Date, 'now').mockImplementation(() => emulator.now());
  }

  afterEach(async () => {
    jest.restoreAllMocks();
    await h.close();
  });

  describe('confidential client (refresh token issued)', () => {
    it('a token about to expire is refreshed once and the call succeeds with the new token', async () => {
      await start();
      const browser = await h.login(AGENT_USER);
      const [before] = await storedTokenSets(h);
      expect(before?.refreshToken).toBeDefined();

      h.emulator.advance((TOKEN_SECONDS - 30) * 1000);
      h.emulator.clearRequests();
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(200);
      expect(grants(h)).toEqual(['refresh_token']);
      const [refreshCall] = h.emulator.requestsFor('token');
      expect(new URLSearchParams(refreshCall?.body).get('refresh_token')).toBe(
        before?.refreshToken,
      );

      const [after] = await storedTokenSets(h);
      expect(after?.accessToken).not.toBe(before?.accessToken);
      expect(after?.refreshToken).not.toBe(before?.refreshToken);
      expect(h.emulator.requestsFor('getTokensMe')[0]?.headers.authorization).toBe(
        `Bearer ${after?.accessToken}`,
      );
      expect(h.emulator.isTokenActive(after?.accessToken ?? '')).toBe(true);

      // The next call uses the stored new token: no second refresh.
      h.emulator.clearRequests();
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
      expect(refreshCount(h)).toBe(0);
    });

    it('a token already past its expiry is refreshed, and HEAD works after it too', async () => {
      await start();
      const browser = await h.login(AGENT_USER);
      h.emulator.advance((TOKEN_SECONDS + 60) * 1000);
      h.emulator.clearRequests();
      const res = await browser.request('HEAD', '/session', { csrf: true });
      expect(res.status).toBe(200);
      expect(refreshCount(h)).toBe(1);
      const metrics = await h.metrics.registry.getSingleMetricAsString('bff_token_refreshes_total');
      expect(metrics).toMatch(/bff_token_refreshes_total\{outcome="ok"\} 1/);
    });

    it('ten concurrent requests of one session at expiry trigger exactly one refresh', async () => {
      await start();
      const browser = await h.login(AGENT_USER);
      h.emulator.advance((TOKEN_SECONDS - 10) * 1000);
      h.emulator.clearRequests();
      // Slow the token endpoint a little, so every request is in flight during the refresh.
      h.emulator.fault({ operation: 'token', times: 1 }, { latencyMs: 100 });
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          i % 2 === 0
            ? browser.get('/session', { csrf: true })
            : browser.request('HEAD', '/session', { csrf: true }),
        ),
      );
      expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(refreshCount(h)).toBe(1);
      // The session survived the race with a working token.
      h.emulator.clearRequests();
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
      expect(refreshCount(h)).toBe(0);
      expect(await h.store.countSessions()).toBe(1);
    });

    it('a request that loaded the session before the refreshed tokens were saved does not refresh again', async () => {
      await start();
      const browser = await h.login(AGENT_USER);
      h.emulator.advance((TOKEN_SECONDS - 10) * 1000);
      h.emulator.clearRequests();
      // The first request refreshes, then waits on a slow Genesys: its session (with the new
      // tokens) is saved only when it answers.
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 400 });
      const first = browser.get('/session', { csrf: true });
      while (h.emulator.requestsFor('getTokensMe').length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // Meanwhile the page polls: this request still reads the old, rotated refresh token.
      const second = await browser.request('HEAD', '/session', { csrf: true });
      expect(second.status).toBe(200);
      expect((await first).status).toBe(200);
      expect(refreshCount(h)).toBe(1);
      expect(await h.store.countSessions()).toBe(1);
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    });

    it('a refused refresh (all tokens of the user revoked) answers 401 and ends the session', async () => {
      await start();
      const browser = await h.login(AGENT_USER);
      // An admin revokes every token of the agent, refresh tokens included, straight at Genesys.
      const admin = h.emulator.issueToken(ADMIN_USER.id, TEST_CLIENT_ID);
      const revoke = await fetch(`${h.emulator.url}/api/v2/tokens/${AGENT_USER.id}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${admin.access_token}` },
      });
      expect(revoke.status).toBe(204);

      h.emulator.advance((TOKEN_SECONDS - 30) * 1000);
      h.emulator.clearRequests();
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refreshCount(h)).toBe(1);
      expect(h.emulator.requestsFor('getTokensMe')).toEqual([]);
      expect(await h.store.countSessions()).toBe(0);
      expect(browser.cookies.has(h.config.session.cookieName)).toBe(false);
      const metrics = await h.metrics.registry.getSingleMetricAsString('bff_sessions_ended_total');
      expect(metrics).toMatch(/reason="refresh_failed"\} 1/);
    });

    it('an outage of the token endpoint during refresh answers 5xx but keeps the session', async () => {
      await start();
      const browser = await h.login(AGENT_USER);
      h.emulator.advance((TOKEN_SECONDS - 30) * 1000);
      h.emulator.fault({ operation: 'token', times: 1 }, { status: 503 });
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(502);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await h.store.countSessions()).toBe(1);
      // Once Genesys is back the same session refreshes and works.
      h.emulator.clearRequests();
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
      expect(refreshCount(h)).toBe(1);
    });

    it('an unreachable token endpoint during refresh keeps the session too', async () => {
      await start();
      const browser = await h.login(AGENT_USER);
      h.emulator.advance((TOKEN_SECONDS - 30) * 1000);
      h.emulator.fault({ operation: 'token', times: 1 }, { reset: true });
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(502);
      expect(await h.store.countSessions()).toBe(1);
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    });
  });

  describe('public client (no refresh token)', () => {
    it('when the token expires, the session ends with 401 and Genesys is not asked', async () => {
      await start({ publicClient: true });
      const browser = await h.login(AGENT_USER);
      const [tokens] = await storedTokenSets(h);
      expect(tokens?.refreshToken).toBeUndefined();
      // Inside the refresh margin but before expiry, the token is still used.
      h.emulator.advance((TOKEN_SECONDS - 30) * 1000);
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);

      h.emulator.advance(31_000);
      h.emulator.clearRequests();
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(401);
      expect(h.emulator.requests).toEqual([]);
      expect(await h.store.countSessions()).toBe(0);
    });
  });

  describe('absolute timeout', () => {
    it('ends a session that stays active, once SESSION_ABSOLUTE_TIMEOUT_SECONDS have passed', async () => {
      await start(
        { env: { SESSION_IDLE_TIMEOUT_SECONDS: '300', SESSION_ABSOLUTE_TIMEOUT_SECONDS: '600' } },
        86_400,
      );
      const browser = await h.login(AGENT_USER);
      for (const step of [200, 200, 199]) {
        h.emulator.advance(step * 1000);
        expect((await browser.request('HEAD', '/session', { csrf: true })).status).toBe(200);
      }
      h.emulator.advance(2_000);
      h.emulator.clearRequests();
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(401);
      // (The clamped cookie and store row die at the absolute end; the guard checks it as well.)
      expect(h.emulator.requests).toEqual([]);
      expect(await h.store.countSessions()).toBe(0);
    });

    it('the cookie never outlives the absolute timeout', async () => {
      await start(
        { env: { SESSION_IDLE_TIMEOUT_SECONDS: '300', SESSION_ABSOLUTE_TIMEOUT_SECONDS: '600' } },
        86_400,
      );
      const browser = await h.login(AGENT_USER);
      h.emulator.advance(200_000);
      const first = await browser.request('HEAD', '/session', { csrf: true });
      expect(sessionMaxAge(h, first)).toBe(300);
      h.emulator.advance(250_000);
      const res = await browser.request('HEAD', '/session', { csrf: true });
      expect(res.status).toBe(200);
      // 150 s of the absolute lifetime are left: less than the 300 s idle window.
      expect(sessionMaxAge(h, res)).toBe(150);
    });
  });

  describe('idle timeout and the session cookie', () => {
    it('the cookie Max-Age is SESSION_IDLE_TIMEOUT_SECONDS at login and on every /session answer', async () => {
      await start({ env: { SESSION_IDLE_TIMEOUT_SECONDS: '900' } }, 86_400);
      const { browser, callback } = await loginWithCallback(h);
      expect(sessionMaxAge(h, callback)).toBe(900);
      h.emulator.advance(600_000);
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(200);
      // Rolling: the idle window starts again with each request.
      expect(sessionMaxAge(h, res)).toBe(900);
    });

    it('a session unused for longer than the idle timeout is gone', async () => {
      await start({ env: { SESSION_IDLE_TIMEOUT_SECONDS: '900' } }, 86_400);
      const browser = await h.login(AGENT_USER);
      h.emulator.advance(901_000);
      h.emulator.clearRequests();
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(401);
      expect(h.emulator.requests).toEqual([]);
    });

    it('without a refresh token, Max-Age is clamped to the token’s remaining life', async () => {
      await start({ publicClient: true }, 600);
      const { browser, callback } = await loginWithCallback(h);
      expect(sessionMaxAge(h, callback)).toBe(600);
      h.emulator.advance(200_000);
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(200);
      // Nothing to roll: the cookie from the login already dies with the token, 400 s from now.
      expect(sessionMaxAge(h, res)).toBeUndefined();
      // The store row dies with the token too.
      h.emulator.advance(400_000);
      expect(await h.store.countSessions()).toBe(0);
    });

    it('with a refresh token, Max-Age is not clamped to the short token life', async () => {
      await start({}, 600);
      const { callback } = await loginWithCallback(h);
      expect(sessionMaxAge(h, callback)).toBe(h.config.session.idleTimeoutSeconds);
    });
  });
});
