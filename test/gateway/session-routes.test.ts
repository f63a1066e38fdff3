import { AGENT_USER } from '../../emulator/genesys-emulator';
import type { RecordedRequest } from '../../emulator/genesys-emulator';
import { useHarness, storedTokenSets, type Harness } from '../support/gateway-harness';
import type { BrowserClient } from '../support/browser-client';
import { expectProblem } from '../support/expect-problem';

const TOKENS_ME = /^(head|get)TokensMe$/;

function tokenCalls(h: Harness): RecordedRequest[] {
  return h.emulator.requests.filter((r) => TOKENS_ME.test(r.operation));
}

async function accessTokenOf(h: Harness): Promise<string> {
  const [set] = await storedTokenSets(h);
  if (!set) throw new Error('no session in the store');
  return set.accessToken;
}

describe('/session', () => {
  const h = useHarness();
  let browser: BrowserClient;

  beforeEach(async () => {
    browser = await h.login(AGENT_USER);
    h.emulator.clearRequests();
  });

  describe('HEAD /session', () => {
    it('verifies the token with HEAD /api/v2/tokens/me and answers 200 without a body', async () => {
      const token = await accessTokenOf(h);
      const res = await browser.request('HEAD', '/session', { csrf: true });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe('0');
      const calls = tokenCalls(h);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({
        method: 'HEAD',
        path: '/api/v2/tokens/me',
        query: {},
        operation: 'headTokensMe',
      });
      // The gateway injects the session's token; the browser's cookie and CSRF header stay home.
      expect(calls[0]?.headers.authorization).toBe(`Bearer ${token}`);
      expect(calls[0]?.headers.cookie).toBeUndefined();
      expect(calls[0]?.headers['x-csrf']).toBeUndefined();
    });

    it('with preserveIdleTTL=true verifies through GET ?preserveIdleTTL=true and drops the body', async () => {
      const res = await browser.request('HEAD', '/session?preserveIdleTTL=true', { csrf: true });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe('0');
      const calls = tokenCalls(h);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({
        method: 'GET',
        path: '/api/v2/tokens/me',
        query: { preserveIdleTTL: 'true' },
      });
    });

    it('without a session answers 401 without a body and asks nothing upstream', async () => {
      const res = await h.client().request('HEAD', '/session', { csrf: true });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(tokenCalls(h)).toHaveLength(0);
    });
  });

  describe('GET /session', () => {
    it('answers 200 with the TokenInfo JSON exactly as Genesys sent it', async () => {
      const token = await accessTokenOf(h);
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const direct = await fetch(`${h.emulator.url}/api/v2/tokens/me`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(res.text).toBe(await direct.text());
      expect(res.json()).toMatchObject({
        organization: { id: expect.any(String) },
        OAuthClient: { id: h.config.oauth.clientId },
      });
      expect(tokenCalls(h)[0]).toMatchObject({
        method: 'GET',
        path: '/api/v2/tokens/me',
        query: {},
      });
    });

    it.each(['true', 'false'])('forwards preserveIdleTTL=%s upstream', async (flag) => {
      const res = await browser.get(`/session?preserveIdleTTL=${flag}`, { csrf: true });
      expect(res.status).toBe(200);
      const calls = tokenCalls(h);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ method: 'GET', query: { preserveIdleTTL: flag } });
    });

    it.each([
      ['a word other than true/false', '?preserveIdleTTL=yes'],
      ['an upper-case TRUE', '?preserveIdleTTL=TRUE'],
      ['an empty value', '?preserveIdleTTL='],
      ['the parameter repeated', '?preserveIdleTTL=true&preserveIdleTTL=false'],
      ['an array-shaped parameter', '?preserveIdleTTL[]=true'],
      ['an encoded array-shaped parameter', '?preserveIdleTTL%5B%5D=true'],
      ['an object-shaped parameter', '?preserveIdleTTL[a]=true'],
      ['a plain and an array-shaped one', '?preserveIdleTTL=true&preserveIdleTTL[]=false'],
    ])('refuses %s with 400 and makes no upstream call', async (_name, query) => {
      const res = await browser.get(`/session${query}`, { csrf: true });
      expect(res.status).toBe(400);
      expectProblem(res, 400);
      expect(res.json<{ detail: string }>().detail).toMatch(/preserveIdleTTL/);
      expect(tokenCalls(h)).toHaveLength(0);
    });

    it('refuses a bad preserveIdleTTL on HEAD too, with 400 and no upstream call', async () => {
      const res = await browser.request('HEAD', '/session?preserveIdleTTL=1', { csrf: true });
      expect(res.status).toBe(400);
      expect(tokenCalls(h)).toHaveLength(0);
    });

    it('without a session answers 401 problem+json and asks nothing upstream', async () => {
      const res = await h.client().get('/session', { csrf: true });
      expect(res.status).toBe(401);
      expectProblem(res, 401);
      expect(tokenCalls(h)).toHaveLength(0);
    });

    it('with a forged session cookie answers 401 and asks nothing upstream', async () => {
      const forged = h.client();
      forged.cookies.set(h.config.session.cookieName, {
        value: 's%3Aforged-session-id.bm90LWEtc2lnbmF0dXJl',
        path: '/',
        attributes: '',
      });
      const res = await forged.get('/session', { csrf: true });
      expect(res.status).toBe(401);
      expect(tokenCalls(h)).toHaveLength(0);
    });
  });

  describe('idle-token timer (org idle timeout on)', () => {
    const IDLE_SECONDS = 300;

    beforeEach(async () => {
      // A fresh login while the feature is on: Genesys then issues no refresh token.
      await h.restart();
      h.emulator.setIdleTimeout({
        enableIdleTokenTimeout: true,
        idleTokenTimeoutSeconds: IDLE_SECONDS,
      });
      browser = await h.login(AGENT_USER);
      h.emulator.clearRequests();
    });

    it('polling HEAD /session?preserveIdleTTL=true does not keep the token alive', async () => {
      for (let i = 0; i < 4; i += 1) {
        h.emulator.advance(70_000);
        const res = await browser.request('HEAD', '/session?preserveIdleTTL=true', { csrf: true });
        expect(res.status).toBe(200);
      }
      h.emulator.advance(IDLE_SECONDS * 1000 - 4 * 70_000);
      const expired = await browser.request('HEAD', '/session?preserveIdleTTL=true', {
        csrf: true,
      });
      expect(expired.status).toBe(401);
      // Upstream 401 ended the local session: nothing left in the store, no further upstream call.
      expect(await h.store.countSessions()).toBe(0);
      h.emulator.clearRequests();
      const again = await browser.get('/session', { csrf: true });
      expect(again.status).toBe(401);
      expect(tokenCalls(h)).toHaveLength(0);
    });

    it('HEAD /session is activity: it keeps the token alive past the idle timeout', async () => {
      for (let i = 0; i < 5; i += 1) {
        h.emulator.advance(250_000);
        const res = await browser.request('HEAD', '/session', { csrf: true });
        expect(res.status).toBe(200);
      }
      // 1250 s since login, well past the 300 s idle timeout, and still alive.
      const res = await browser.get('/session?preserveIdleTTL=true', { csrf: true });
      expect(res.status).toBe(200);
      // The last HEAD (just now) restarted the timer.
      expect(res.json<{ dateTokenIdles?: string }>().dateTokenIdles).toBe(
        new Date(h.emulator.now() + IDLE_SECONDS * 1000).toISOString(),
      );
    });
  });

  describe('wrong methods', () => {
    it.each(['POST', 'PUT', 'PATCH'])('%s /session answers 405 with Allow', async (method) => {
      const res = await browser.request(method, '/session', { csrf: true, body: '' });
      expect(res.status).toBe(405);
      expectProblem(res, 405);
      const allow = (res.headers.get('allow') ?? '').split(/,\s*/).sort();
      expect(allow).toEqual(['DELETE', 'GET', 'HEAD']);
      expect(tokenCalls(h)).toHaveLength(0);
    });

    it('a wrong method without a session is still 405, not 401', async () => {
      const res = await h.client().request('PUT', '/session', { csrf: true, body: '{}' });
      expect(res.status).toBe(405);
    });
  });
});
