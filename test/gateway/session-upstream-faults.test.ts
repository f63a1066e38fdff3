import { AGENT_USER } from '../../emulator/genesys-emulator';
import { BrowserClient } from '../support/browser-client';
import { startHarness, useHarness, type Harness } from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';
import { sessionIdsOfUser } from '../support/store-contents';

/** Upstream headers the contract lets through; everything else from Genesys stays behind. */
const KEPT = /^(content-type|retry-after|inin-correlation-id|inin-ratelimit-.*)$/;

describe('/session when Genesys misbehaves', () => {
  const h = useHarness();
  let browser: BrowserClient;

  beforeEach(async () => {
    browser = await h.login(AGENT_USER);
    h.emulator.clearRequests();
  });

  async function stillServes(): Promise<void> {
    const res = await browser.get('/session', { csrf: true });
    expect(res.status).toBe(200);
  }

  describe('error answers pass through with their status and JSON body', () => {
    it.each([403, 404, 500, 503])('upstream %i reaches the client unchanged', async (status) => {
      const body = {
        message: `emulated ${status}`,
        code: 'emulated.failure',
        status,
        contextId: 'ctx-1',
        details: [],
        errors: [],
      };
      h.emulator.fault(
        { operation: 'getTokensMe', times: 1 },
        {
          status,
          body,
          headers: {
            'x-internal': '1',
            'set-cookie': 'upstream=leaked; Path=/',
            'x-powered-by': 'Genesys',
            server: 'genesys-edge',
            'inin-ratelimit-count': '7',
          },
        },
      );
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(status);
      expect(res.text).toBe(JSON.stringify(body));
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-internal')).toBeNull();
      expect(res.headers.get('x-powered-by')).toBeNull();
      expect(res.headers.get('server')).toBeNull();
      expect(res.headers.getSetCookie().filter((c) => c.startsWith('upstream='))).toEqual([]);
      expect(res.headers.get('inin-ratelimit-count')).toBe('7');
      // Genesys echoes the correlation id the gateway sent: the client's request id.
      expect(res.headers.get('inin-correlation-id')).toBe(res.headers.get('x-request-id'));
      await stillServes();
    });

    it('upstream 429 keeps Retry-After and the inin-ratelimit-* headers', async () => {
      h.emulator.fault(
        { operation: 'getTokensMe', times: 1 },
        { status: 429, headers: { 'Retry-After': '7', 'X-Internal': '1' } },
      );
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(429);
      expect(res.json()).toMatchObject({ code: 'too.many.requests.retry.after', status: 429 });
      expect(res.headers.get('retry-after')).toBe('7');
      expect(res.headers.get('inin-ratelimit-allowed')).toBe('300');
      expect(res.headers.get('inin-ratelimit-count')).toMatch(/^\d+$/);
      expect(res.headers.get('inin-ratelimit-reset')).toMatch(/^\d+$/);
      expect(res.headers.get('x-internal')).toBeNull();
      await stillServes();
    });

    it('of a successful answer, only the allowed upstream headers reach the client', async () => {
      h.emulator.fault(
        { operation: 'getTokensMe', times: 1 },
        { headers: { 'x-internal': '1', 'set-cookie': 'upstream=1', etag: '"v1"', vary: 'X-Foo' } },
      );
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-internal')).toBeNull();
      expect(res.headers.get('etag')).toBeNull();
      expect(res.headers.get('vary') ?? '').not.toMatch(/X-Foo/i);
      expect(res.headers.getSetCookie().filter((c) => c.startsWith('upstream='))).toEqual([]);
      expect(res.headers.get('inin-correlation-id')).toBe(res.headers.get('x-request-id'));
      expect(res.headers.get('inin-ratelimit-allowed')).toBe('300');
      // No upstream header outside the allow list: the rest are the gateway's own.
      const upstreamNames = [...res.headers.keys()].filter((n) => /^(inin-|x-internal)/.test(n));
      for (const name of upstreamNames) expect(name).toMatch(KEPT);
    });

    it('an HTML error page from upstream is not relayed: same status, problem+json', async () => {
      h.emulator.fault(
        { operation: 'getTokensMe', times: 1 },
        { status: 503, body: '<html>down</html>', headers: { 'content-type': 'text/html' } },
      );
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(503);
      expectProblem(res, 503);
      expect(res.text).not.toContain('<html>');
      await stillServes();
    });
  });

  describe('upstream 401 ends the local session', () => {
    it.each([
      ['GET /session', 'GET', '/session', 'getTokensMe'],
      ['HEAD /session', 'HEAD', '/session', 'headTokensMe'],
      [
        'HEAD /session?preserveIdleTTL=true',
        'HEAD',
        '/session?preserveIdleTTL=true',
        'getTokensMe',
      ],
    ])(
      '%s: the client gets 401 and the next call never reaches Genesys',
      async (_n, method, path, op) => {
        const cookieName = h.config.session.cookieName;
        expect(await h.store.countSessions()).toBe(1);
        h.emulator.fault({ operation: op, times: 1 }, { status: 401 });
        const res = await browser.request(method, path, { csrf: true });
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        if (method === 'GET') {
          expectProblem(res, 401);
          // The gateway's own problem, not Genesys's ErrorBody.
          expect(res.json()).not.toHaveProperty('code');
        }
        // The cookie is cleared and the server-side record is gone.
        expect(browser.cookies.has(cookieName)).toBe(false);
        expect(await h.store.countSessions()).toBe(0);
        expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toEqual([]);

        // The next call is refused locally, without an upstream call.
        h.emulator.clearRequests();
        const again = await browser.get('/session', { csrf: true });
        expect(again.status).toBe(401);
        expect(h.emulator.requests).toEqual([]);
      },
    );

    it('a replayed cookie of a session ended by upstream 401 is refused without asking Genesys', async () => {
      const cookieName = h.config.session.cookieName;
      const saved = browser.cookies.get(cookieName);
      expect(saved).toBeDefined();
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { status: 401 });
      expect((await browser.get('/session', { csrf: true })).status).toBe(401);

      h.emulator.clearRequests();
      const attacker = new BrowserClient(h.url);
      attacker.cookies.set(cookieName, saved as NonNullable<typeof saved>);
      const res = await attacker.get('/session', { csrf: true });
      expect(res.status).toBe(401);
      expect(h.emulator.requests).toEqual([]);
    });
  });

  describe('network failures', () => {
    it('a connection reset answers 502 problem+json', async () => {
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { reset: true });
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(502);
      expectProblem(res, 502);
      await stillServes();
    });

    it('a reset on HEAD answers 502 without a body', async () => {
      h.emulator.fault({ operation: 'headTokensMe', times: 1 }, { reset: true });
      const res = await browser.request('HEAD', '/session', { csrf: true });
      expect(res.status).toBe(502);
      expect((await browser.request('HEAD', '/session', { csrf: true })).status).toBe(200);
    });

    it('a 200 with a body that is not JSON answers 502 and relays none of it', async () => {
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { malformed: true });
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(502);
      expectProblem(res, 502);
      expect(res.text).not.toContain('{"organization":{"id":"');
      await stillServes();
    });

    it('an answer slower than UPSTREAM_TIMEOUT_MS answers 504 at about the timeout', async () => {
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 1800 });
      const started = Date.now();
      const res = await browser.get('/session', { csrf: true });
      const elapsed = Date.now() - started;
      expect(res.status).toBe(504);
      expectProblem(res, 504);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(1600);
      await stillServes();
    });

    it('an upstream that never answers gives 504 at about the timeout', async () => {
      h.emulator.fault({ operation: 'headTokensMe', times: 1 }, { hang: true });
      const started = Date.now();
      const res = await browser.request('HEAD', '/session', { csrf: true });
      const elapsed = Date.now() - started;
      expect(res.status).toBe(504);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(1600);
      // A slow Genesys is no reason to log the user out.
      expect(await h.store.countSessions()).toBe(1);
      await stillServes();
    });
  });
});

describe('/session when Genesys cannot be reached', () => {
  it('answers 502 problem+json, keeps the session, and keeps serving', async () => {
    // Log in through a working gateway, then serve the same session store from a gateway whose
    // API host is a closed port (STYLE.md §8: a dead upstream is http://127.0.0.1:1).
    const good = await startHarness();
    let dead: Harness | undefined;
    try {
      const browser = await good.login(AGENT_USER);
      dead = await startHarness({
        emulator: good.emulator,
        store: () => good.store,
        env: { GENESYS_API_BASE_URL: 'http://127.0.0.1:1' },
      });
      const client = new BrowserClient(dead.url);
      for (const [name, cookie] of browser.cookies) client.cookies.set(name, cookie);

      const res = await client.get('/session', { csrf: true });
      expect(res.status).toBe(502);
      expectProblem(res, 502);
      const head = await client.request('HEAD', '/session', { csrf: true });
      expect(head.status).toBe(502);
      // Ops see why: one warning line per failure, naming the operation and the network error.
      const warning = dead.logs
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.operation === 'getTokensMe' && line.level === 'warn');
      expect(warning).toMatchObject({
        status: 502,
        cause: expect.stringContaining('ECONNREFUSED'),
      });
      expect(await good.store.countSessions()).toBe(1);
      expect((await dead.client().request('GET', '/healthz')).status).toBe(200);
      // The same session still works where Genesys is reachable.
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    } finally {
      await dead?.close();
      await good.close();
    }
  });
});
