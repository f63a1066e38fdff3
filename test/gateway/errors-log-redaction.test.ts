import { AGENT_USER } from '../../emulator/genesys-emulator';
import {
  setAccessTokenLifetime,
  useHarness,
  storedTokenSets,
  type Harness,
} from '../support/gateway-harness';

/** Every credential a log line must never hold, collected from both sides of the exchange. */
async function secretsSeen(h: Harness, into: Set<string>): Promise<void> {
  for (const set of await storedTokenSets(h)) {
    into.add(set.accessToken);
    if (set.refreshToken !== undefined) into.add(set.refreshToken);
  }
  for (const call of h.emulator.requestsFor('token')) {
    const form = new URLSearchParams(call.body);
    for (const name of ['code', 'code_verifier', 'refresh_token']) {
      const value = form.get(name);
      if (value) into.add(value);
    }
  }
  for (const call of h.emulator.requests) {
    const auth = call.headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) into.add(auth.slice(7));
  }
}

describe('log redaction', () => {
  const h = useHarness({ env: { LOG_LEVEL: 'trace' } });

  beforeEach(() => {
    // Short-lived tokens, so the run below also refreshes and the refresh token is exercised.
    setAccessTokenLifetime(h, 300);
  });

  it('no log line holds an access token, refresh token, authorization code, verifier or session id', async () => {
    const secrets = new Set<string>();
    const browser = await h.login(AGENT_USER);
    await secretsSeen(h, secrets);
    const cookie = browser.cookies.get(h.config.session.cookieName);
    expect(cookie).toBeDefined();
    // The signed cookie is `s:<sid>.<signature>`; the bare sid is a bearer credential too.
    const sid = /^s:([^.]+)\./.exec(decodeURIComponent(cookie?.value ?? ''))?.[1];
    expect(sid).toBeDefined();
    secrets.add(sid as string);

    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    expect(
      (await browser.request('HEAD', '/session?preserveIdleTTL=true', { csrf: true })).status,
    ).toBe(200);
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { reset: true });
    expect((await browser.get('/session', { csrf: true })).status).toBe(502);
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { status: 500 });
    expect((await browser.get('/session', { csrf: true })).status).toBe(500);

    // Expiry in reach: the next call refreshes.
    h.emulator.advance(280_000);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    await secretsSeen(h, secrets);
    expect(
      h.emulator.requestsFor('token').map((r) => new URLSearchParams(r.body).get('grant_type')),
    ).toEqual(['authorization_code', 'refresh_token']);

    expect((await browser.request('DELETE', '/session', { csrf: true })).status).toBe(204);
    // A replayed callback (its code already redeemed) fails and is logged too.
    const callback = h.emulator.requestsFor('token')[0];
    const code = new URLSearchParams(callback?.body ?? '').get('code') ?? '';
    expect((await browser.get(`/auth/callback?code=${code}&state=replayed`)).status).toBe(400);

    expect(secrets.size).toBeGreaterThanOrEqual(6);
    const all = h.logs.join('\n');
    expect(h.logs.length).toBeGreaterThan(5);
    for (const secret of secrets) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/Bearer /i);
    expect(all).not.toMatch(/[?&]code=/);
  });

  it('the callback is logged by path only, without its query', async () => {
    await h.login(AGENT_USER);
    const lines = h.logs.map((l) => JSON.parse(l) as { path?: string; msg?: string });
    const callbackLines = lines.filter((l) => l.path?.startsWith('/auth/callback'));
    expect(callbackLines).toHaveLength(1);
    expect(callbackLines[0]?.path).toBe('/auth/callback');
    expect(h.logs.join('\n')).not.toMatch(/state=|code=/);
  });

  it('a failed callback with an attacker-chosen query logs no part of the query', async () => {
    const res = await h.client().get('/auth/callback?code=SECRET-CODE-123&state=STATE-456');
    expect(res.status).toBe(400);
    const all = h.logs.join('\n');
    expect(all).toContain('/auth/callback');
    expect(all).not.toContain('SECRET-CODE-123');
    expect(all).not.toContain('STATE-456');
  });
});
