import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import { BrowserClient, type ClientResponse } from '../support/browser-client';
import {
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  beginLogin,
  useHarness,
  storedTokenSets,
  type Harness,
} from '../support/gateway-harness';

/** A browser that remembers everything the gateway ever sent it: status line, headers, body. */
class RecordingBrowser extends BrowserClient {
  readonly seen: string[] = [];

  override async request(
    method: string,
    url: string,
    init?: Parameters<BrowserClient['request']>[2],
  ): Promise<ClientResponse> {
    const res = await super.request(method, url, init);
    if (new URL(url, this.origin).origin === this.origin) {
      const headers = [...res.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
      this.seen.push(`${method} ${url} -> ${res.status}\n${headers}\n\n${res.text}`);
    }
    return res;
  }
}

/** Every access and refresh token Genesys handed the gateway, as seen from the Genesys side. */
function tokensSeenByGenesys(h: Harness): Set<string> {
  const tokens = new Set<string>();
  for (const r of h.emulator.requests) {
    const auth = r.headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) tokens.add(auth.slice(7));
    if (r.operation === 'token') {
      const refresh = new URLSearchParams(r.body).get('refresh_token');
      if (refresh) tokens.add(refresh);
    }
  }
  return tokens;
}

describe('token secrecy', () => {
  const h = useHarness({ env: { LOG_LEVEL: 'trace', UPSTREAM_TIMEOUT_MS: '200' } });

  beforeEach(() => {
    // Short-lived tokens, so the session refreshes within the idle window.
    h.emulator.addClient({
      id: TEST_CLIENT_ID,
      secret: TEST_CLIENT_SECRET,
      name: 'tokens-bff tests',
      redirectUris: [`${h.url}/auth/callback`],
      accessTokenLifetimeSeconds: 300,
    });
  });

  it('never lets an access or refresh token reach the browser or a log line', async () => {
    const tokens = new Set<string>();
    const remember = async (): Promise<void> => {
      for (const set of await storedTokenSets(h)) {
        tokens.add(set.accessToken);
        if (set.refreshToken) tokens.add(set.refreshToken);
      }
    };

    const browser = new RecordingBrowser(h.url);
    await h.login(AGENT_USER, { client: browser, returnTo: '/app' });
    await remember();
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    expect((await browser.request('HEAD', '/session', { csrf: true })).status).toBe(200);
    expect((await browser.get('/session?preserveIdleTTL=true', { csrf: true })).status).toBe(200);
    expect((await browser.get('/session?preserveIdleTTL=maybe', { csrf: true })).status).toBe(400);
    expect((await browser.get('/session')).status).toBe(403);

    // Near expiry the gateway refreshes: a second token pair enters the session.
    h.emulator.advance(250_000);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    const refreshes = h.emulator
      .requestsFor('token')
      .filter((r) => new URLSearchParams(r.body).get('grant_type') === 'refresh_token');
    expect(refreshes).toHaveLength(1);
    await remember();

    // Upstream failures of every kind go through the error paths (and their log lines).
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { status: 500 });
    expect((await browser.get('/session', { csrf: true })).status).toBe(500);
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { reset: true });
    expect((await browser.get('/session', { csrf: true })).status).toBe(502);
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 1_000 });
    expect((await browser.get('/session', { csrf: true })).status).toBe(504);

    // A login that fails after the code was redeemed holds a token the browser must not see.
    const second = new RecordingBrowser(h.url);
    const failing = await beginLogin(h, second, ADMIN_USER);
    h.emulator.fault({ operation: 'getUsersMe', times: 1 }, { status: 500 });
    expect((await second.get(failing.callbackUrl)).status).toBe(502);

    // Genesys revoking the token (upstream 401) ends the session.
    const third = new RecordingBrowser(h.url);
    await h.login(ADMIN_USER, { client: third });
    await remember();
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { status: 401 });
    expect((await third.get('/session', { csrf: true })).status).toBe(401);

    expect((await browser.request('DELETE', '/session', { csrf: true })).status).toBe(204);

    for (const token of tokensSeenByGenesys(h)) tokens.add(token);
    // Login, refresh, failed login and second user: at least five distinct tokens.
    expect(tokens.size).toBeGreaterThanOrEqual(5);
    const seen = [...browser.seen, ...second.seen, ...third.seen];
    expect(seen.length).toBeGreaterThan(10);
    expect(h.logs.length).toBeGreaterThan(10);
    const cookies = [browser, second, third].flatMap((b) =>
      [...b.cookies.values()].map((c) => c.value),
    );
    for (const token of tokens) {
      expect(token.length).toBeGreaterThanOrEqual(32);
      for (const text of seen) expect(text).not.toContain(token);
      for (const line of h.logs) expect(line).not.toContain(token);
      for (const value of cookies) expect(value).not.toContain(token);
    }
  });

  it('keeps tokens in the store only encrypted', async () => {
    await h.login(AGENT_USER);
    const [set] = await storedTokenSets(h);
    const raw = JSON.stringify(await h.store.allSessions());
    expect(set?.accessToken).toBeDefined();
    expect(raw).not.toContain(set?.accessToken);
    expect(raw).not.toContain(set?.refreshToken);
  });
});
