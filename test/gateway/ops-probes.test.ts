import net from 'node:net';
import { AGENT_USER } from '../../emulator/genesys-emulator';
import { freePort, startHarness, useHarness, type Harness } from '../support/gateway-harness';

/** Opens a connection and sends the start of a request; `finish` completes it and reads the answer. */
async function startRawRequest(
  url: string,
  head: string,
): Promise<{ finish(rest: string): Promise<string> }> {
  const { port, hostname } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('utf8')));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(head);
  return {
    async finish(rest) {
      socket.write(rest);
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
      socket.destroy();
      return answer;
    },
  };
}

describe('ops routes', () => {
  describe('/healthz and /readyz', () => {
    const h = useHarness();

    it('/healthz answers 200 without creating a session or a log line', async () => {
      const res = await h.client().get('/healthz');
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(await h.store.countSessions()).toBe(0);
      expect(h.logs.filter((l) => l.includes('/healthz'))).toEqual([]);
    });

    it('/readyz answers 200 while the store answers', async () => {
      const res = await h.client().get('/readyz');
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ status: 'ready' });
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('/readyz answers 503 once the store is closed, while /healthz stays 200', async () => {
      await h.store.close();
      const ready = await h.client().get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      // Not cached by a proxy: "not ready" must not outlive the outage.
      expect(ready.headers.get('cache-control')).toBe('no-store');
      expect((await h.client().get('/healthz')).status).toBe(200);
    });

    it.each(['/healthz', '/readyz', '/metrics'])(
      'POST %s is 405 with Allow, not 404',
      async (path) => {
        const res = await h.client().request('POST', path);
        expect(res.status).toBe(405);
        expect(res.headers.get('allow')).toBe('GET, HEAD');
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      },
    );

    it('probes need neither X-CSRF nor a session, and ignore a foreign Origin', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const res = await h.client().get(path, {
          headers: { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
        });
        expect(res.status).toBe(200);
      }
    });
  });

  describe('graceful shutdown', () => {
    const h = useHarness();

    it('once stop() begins, /readyz answers 503 and the in-flight request still completes', async () => {
      const browser = await h.login(AGENT_USER);
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 400 });
      const inFlight = browser.get('/session', { csrf: true });
      while (h.emulator.requestsFor('getTokensMe').length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // A probe whose request is under way on its own connection when shutdown starts.
      const probe = await startRawRequest(h.url, 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      await new Promise((resolve) => setTimeout(resolve, 20));

      const stopping = h.server.stop();
      const readyAnswer = await probe.finish('Connection: close\r\n\r\n');
      expect(readyAnswer).toMatch(/^HTTP\/1\.1 503 /);
      expect(readyAnswer).toMatch(/shutting down/);

      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.json()).toHaveProperty('organization');
      await stopping;
      // Stopped: nothing listens any more.
      await expect(fetch(`${h.url}/healthz`)).rejects.toThrow();
    });

    it('stop() cuts a request that outlives the drain deadline, and resolves', async () => {
      const browser = await h.login(AGENT_USER);
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { hang: true });
      const inFlight = browser.get('/session', { csrf: true }).then(
        (r) => r.status,
        () => 'cut',
      );
      while (h.emulator.requestsFor('getTokensMe').length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const started = Date.now();
      await h.server.stop();
      // The harness drains for 500 ms; the upstream timeout (1000 ms) has not fired yet.
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await inFlight).toBe('cut');
    });
  });

  describe('/metrics', () => {
    const h = useHarness();

    it('serves Prometheus text with request, Genesys, login and process metrics', async () => {
      const browser = await h.login(AGENT_USER);
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
      h.emulator.fault({ operation: 'headTokensMe', times: 1 }, { reset: true });
      expect((await browser.request('HEAD', '/session', { csrf: true })).status).toBe(502);

      const res = await h.client().get('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = res.text;
      expect(text).toContain('# TYPE http_request_duration_seconds histogram');
      expect(text).toMatch(
        /http_request_duration_seconds_count\{method="GET",route="\/session",status_code="200"\} 1/,
      );
      expect(text).toContain('# TYPE genesys_request_duration_seconds histogram');
      expect(text).toMatch(
        /genesys_request_duration_seconds_count\{operation="getTokensMe",status_code="200"\} 1/,
      );
      expect(text).toMatch(
        /genesys_request_duration_seconds_count\{operation="headTokensMe",status_code="error"\} 1/,
      );
      expect(text).toMatch(/bff_logins_total\{outcome="ok"\} 1/);
      expect(text).toMatch(/bff_sessions_started_total 1/);
      expect(text).toContain('bff_token_refreshes_total');
      expect(text).toContain('bff_session_store_errors_total');
      expect(text).toContain('bff_token_revocations_total');
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    });

    it('labels unknown paths as one route, so a scanner cannot blow up the label set', async () => {
      for (const path of ['/nope/1', '/nope/2', '/wp-admin/x.php']) {
        expect((await h.client().get(path)).status).toBe(404);
      }
      const text = (await h.client().get('/metrics')).text;
      expect(text).not.toMatch(/nope|wp-admin/);
      expect(text).toMatch(
        /http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 3/,
      );
    });

    it('holds no token, cookie or user id', async () => {
      const browser = await h.login(AGENT_USER);
      await browser.get('/session', { csrf: true });
      const text = (await h.client().get('/metrics')).text;
      const cookie = browser.cookies.get(h.config.session.cookieName)?.value ?? 'none';
      expect(text).not.toContain(AGENT_USER.id);
      expect(text).not.toContain(decodeURIComponent(cookie).slice(2, 30));
      expect(text).not.toMatch(/Bearer/);
    });
  });

  describe('with METRICS_PORT', () => {
    // Started inside the test, which first picks a free port for the metrics listener.
    let h: Harness;
    afterEach(() => h.close());

    it('serves /metrics only on the metrics port; the main port answers 404', async () => {
      const metricsPort = await freePort();
      h = await startHarness({ env: { METRICS_PORT: String(metricsPort) } });
      expect(h.server.metricsUrl).toBe(`http://127.0.0.1:${metricsPort}`);
      await h.login(AGENT_USER);

      const main = await h.client().get('/metrics');
      expect(main.status).toBe(404);
      expect(main.headers.get('content-type')).toMatch(/^application\/problem\+json/);

      const res = await fetch(`${h.server.metricsUrl}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/bff_logins_total\{outcome="ok"\} 1/);
      expect(text).toContain('http_request_duration_seconds');
      // The metrics listener serves nothing else.
      expect((await fetch(`${h.server.metricsUrl}/session`)).status).toBe(404);
      expect((await fetch(`${h.server.metricsUrl}/healthz`)).status).toBe(404);
    });
  });
});
