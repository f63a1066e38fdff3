import http from 'node:http';
import { AGENT_USER } from '../../emulator/genesys-emulator';
import { MemorySessionStore } from '../../server/stores/memory';
import type { BrowserClient } from '../support/browser-client';
import { useHarness } from '../support/gateway-harness';

const METHODS = ['GET', 'HEAD', 'DELETE'] as const;

/** Sends header lines as given (duplicates included), which fetch would merge. */
function rawRequest(
  url: string,
  method: string,
  headers: http.OutgoingHttpHeaders,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('anti-forgery on /session (attacks)', () => {
  let browser: BrowserClient;
  let store: MemorySessionStore;
  let storeReads: jest.SpyInstance;
  const h = useHarness({
    store: (clock) => {
      store = new MemorySessionStore({ clock });
      return store;
    },
  });

  beforeEach(async () => {
    browser = await h.login(AGENT_USER);
    storeReads = jest.spyOn(store, 'getSession');
    h.emulator.clearRequests();
  });

  /** A refused request reached neither Genesys nor the store, and the session is intact. */
  async function expectRefusedCleanly(res: { status: number }): Promise<void> {
    expect(res.status).toBe(403);
    expect(h.emulator.requests).toEqual([]);
    expect(storeReads).not.toHaveBeenCalled();
    expect(await h.store.countSessions()).toBe(1);
  }

  describe.each(METHODS)('%s /session', (method) => {
    it('a request without X-CSRF (a plain cross-site link or form) is refused with 403', async () => {
      const res = await browser.request(method, '/session');
      await expectRefusedCleanly(res);
      if (method !== 'HEAD') {
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.json()).toMatchObject({ status: 403, detail: expect.stringMatching(/X-CSRF/) });
      }
    });

    it.each(['0', 'true', 'TRUE', '01', '1.0', 'yes', '2', '1;', 'null', '1 1', '%31', ''])(
      'X-CSRF: %s is not "1" and is refused',
      async (value) => {
        const res = await browser.request(method, '/session', { headers: { 'X-CSRF': value } });
        await expectRefusedCleanly(res);
      },
    );

    it('lower-case header name x-csrf: true is refused', async () => {
      const res = await browser.request(method, '/session', { headers: { 'x-csrf': 'true' } });
      await expectRefusedCleanly(res);
    });

    it('an X-CSRF header sent twice ("1, 1") is refused', async () => {
      const cookie = browser.cookieHeaderFor(new URL('/session', h.url));
      // An array value is sent as two header lines; Node joins them into "1, 1".
      const res = await rawRequest(`${h.url}/session`, method, {
        'X-CSRF': ['1', '1'],
        Cookie: cookie,
      });
      await expectRefusedCleanly(res);
    });

    it.each(['https://evil.example', 'null', `${'http://127.0.0.1'}:1`, 'http://localhost'])(
      'a foreign Origin (%s) is refused even with X-CSRF: 1',
      async (origin) => {
        const res = await browser.request(method, '/session', {
          csrf: true,
          headers: { Origin: origin },
        });
        await expectRefusedCleanly(res);
      },
    );

    it('an Origin that merely starts with the public origin is refused', async () => {
      for (const origin of [`${h.url}.evil.example`, `${h.url}/`, h.url.toUpperCase()]) {
        const res = await browser.request(method, '/session', {
          csrf: true,
          headers: { Origin: origin },
        });
        await expectRefusedCleanly(res);
      }
    });

    it('never echoes the refused Origin or Sec-Fetch-Site back (10 KB of attacker text)', async () => {
      const junk = `https://evil.example/${'<script>x</script>'.repeat(550)}`;
      for (const headers of [{ Origin: junk }, { 'Sec-Fetch-Site': junk }] as Record<
        string,
        string
      >[]) {
        const res = await browser.request(method, '/session', { csrf: true, headers });
        expect(res.status).toBe(403);
        if (method !== 'HEAD') {
          expect(res.text).not.toContain('evil.example');
          expect(res.text).not.toContain('<script>');
          expect(res.text.length).toBeLessThan(400);
        }
      }
    });

    it.each(['cross-site', 'same-site'])(
      'Sec-Fetch-Site: %s is refused even with X-CSRF: 1',
      async (site) => {
        const res = await browser.request(method, '/session', {
          csrf: true,
          headers: { 'Sec-Fetch-Site': site },
        });
        await expectRefusedCleanly(res);
      },
    );

    it.each(['same-origin', 'none'])(
      'Sec-Fetch-Site: %s with X-CSRF: 1 is served',
      async (site) => {
        const res = await browser.request(method, '/session', {
          csrf: true,
          headers: { 'Sec-Fetch-Site': site, Origin: h.url },
        });
        expect(res.status).toBe(method === 'DELETE' ? 204 : 200);
        expect(storeReads).toHaveBeenCalled();
      },
    );

    it('Sec-Fetch-Site: same-origin without X-CSRF is still refused', async () => {
      const res = await browser.request(method, '/session', {
        headers: { 'Sec-Fetch-Site': 'same-origin', Origin: h.url },
      });
      await expectRefusedCleanly(res);
    });
  });

  it('a refused DELETE /session neither logs the user out nor revokes the token', async () => {
    const res = await browser.request('DELETE', '/session', {
      headers: { Origin: 'https://evil.example' },
    });
    await expectRefusedCleanly(res);
    expect(h.emulator.requestsFor('deleteTokensMe')).toEqual([]);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
  });

  it('the gateway answers no CORS: a preflight gets no Access-Control-Allow-* headers', async () => {
    const res = await browser.request('OPTIONS', '/session', {
      headers: {
        Origin: 'https://evil.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'x-csrf',
      },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    for (const name of res.headers.keys()) expect(name).not.toMatch(/^access-control-/);
    expect(h.emulator.requests).toEqual([]);
  });
});
