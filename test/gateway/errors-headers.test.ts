import net from 'node:net';
import { Writable } from 'node:stream';
import { AGENT_USER } from '../../emulator/genesys-emulator';
import { loadConfig } from '../../config/load-config';
import { createLogger } from '../../server/core/logger';
import { startServer, type RunningServer } from '../../server/http/server';
import { MemorySessionStore } from '../../server/stores/memory';
import type { GenesysClient } from '../../server/genesys/client';
import { BrowserClient, type ClientResponse } from '../support/browser-client';
import { TEST_SESSION_SECRET, freePort, useHarness } from '../support/gateway-harness';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a stack trace or a source location looks like in a body. */
function expectNoInternals(text: string): void {
  expect(text).not.toMatch(/\bat \S+ \(|\n\s+at /);
  expect(text).not.toMatch(/\/work\/|node_modules|\.ts:\d+|\.js:\d+/);
  expect(text).not.toMatch(/TypeError|ReferenceError|Error:/);
}

function expectProblem(res: ClientResponse, status: number): Record<string, unknown> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(Object.keys(body).sort()).toEqual(
    expect.arrayContaining(['detail', 'requestId', 'status', 'title', 'type']),
  );
  expect(body.status).toBe(status);
  expect(body.requestId).toBe(res.headers.get('x-request-id'));
  expect(typeof body.type).toBe('string');
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expectNoInternals(res.text);
  return body;
}

/** Sends bytes as they are: header tricks fetch and http.request refuse to send. */
function rawExchange(url: string, text: string): Promise<string> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    let out = '';
    const socket = net.connect(Number(port), hostname, () => socket.write(text));
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(2000, () => socket.destroy());
  });
}

describe('errors and response headers', () => {
  const h = useHarness();
  let browser: BrowserClient;

  beforeEach(async () => {
    browser = await h.login(AGENT_USER);
    h.emulator.clearRequests();
  });

  describe('unknown routes', () => {
    it.each(['/nope', '/session/', '/Session', '/session/extra', '/api/v2/tokens/me', '/%E0%A4%A'])(
      'GET %s answers 404 problem+json without internals',
      async (path) => {
        const res = await browser.get(path, { csrf: true });
        const body = expectProblem(res, 404);
        expect(body.title).toBe('Not Found');
        expect(h.emulator.requests).toEqual([]);
      },
    );

    it('an unknown route is a 404 for POST too, and no body is parsed for it', async () => {
      const res = await browser.request('POST', '/nope', {
        body: '{not json',
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(res, 404);
    });
  });

  describe('unexpected errors', () => {
    let server: RunningServer | undefined;

    afterEach(async () => {
      await server?.stop();
      server = undefined;
    });

    it('become a 500 with a generic detail and no stack, and are logged in full server-side', async () => {
      const logs: string[] = [];
      const port = await freePort();
      const config = loadConfig({
        PORT: String(port),
        HOST: '127.0.0.1',
        PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
        GENESYS_API_BASE_URL: h.emulator.url,
        GENESYS_LOGIN_BASE_URL: h.emulator.url,
        OAUTH_CLIENT_ID: 'any-client',
        SESSION_SECRET: TEST_SESSION_SECRET,
        SESSION_STORE: 'memory',
      });
      const bug = new TypeError(
        "Cannot read properties of undefined (reading 'id') in /work/main/server/secret.ts:42",
      );
      const genesys: GenesysClient = {
        exchangeCode: () => Promise.reject(bug),
        refresh: () => Promise.reject(bug),
        getMe: () => Promise.reject(bug),
        revokeMe: () => Promise.reject(bug),
      };
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      });
      server = await startServer(config, {
        logger: createLogger('info', sink),
        store: new MemorySessionStore(),
        genesys,
      });
      const client = new BrowserClient(server.url);
      const login = await client.get('/auth/login');
      const state = new URL(login.location ?? '').searchParams.get('state') ?? '';
      const res = await client.get(`/auth/callback?code=abc&state=${state}`);
      const body = expectProblem(res, 500);
      expect(body.detail).toBe('An unexpected error occurred.');
      const logged = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
      const errorLine = logged.find((l) => l.level === 'error');
      expect(errorLine).toMatchObject({ requestId: body.requestId });
      expect(JSON.stringify(errorLine)).toContain('secret.ts:42');
    });
  });

  describe('helmet headers', () => {
    it.each([
      ['a proxied /session answer', '/session'],
      ['a problem answer', '/nope'],
      ['a probe', '/healthz'],
      ['a login redirect', '/auth/login'],
    ])('are on %s, and X-Powered-By is not', async (_name, path) => {
      const res = await browser.get(path, { csrf: true });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
      expect(res.headers.get('x-powered-by')).toBeNull();
    });
  });

  describe('Cache-Control: no-store', () => {
    it.each([
      ['GET /session (200)', 'GET', '/session', true, 200],
      ['HEAD /session (200)', 'HEAD', '/session', true, 200],
      ['GET /session without X-CSRF (403)', 'GET', '/session', false, 403],
      ['POST /session (405)', 'POST', '/session', true, 405],
      ['GET /auth/login (302)', 'GET', '/auth/login', false, 302],
      ['GET /auth/callback without state (400)', 'GET', '/auth/callback', false, 400],
      ['GET /admin/tokens/timeout (200)', 'GET', '/admin/tokens/timeout', true, 200],
      ['GET /admin/nope (404)', 'GET', '/admin/nope', true, 404],
    ])('is on %s', async (_name, method, path, csrf, status) => {
      const res = await browser.request(method, path, { csrf });
      expect(res.status).toBe(status);
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('is on a 401 of /session and an upstream error passed through', async () => {
      expect((await h.client().get('/session', { csrf: true })).headers.get('cache-control')).toBe(
        'no-store',
      );
      h.emulator.fault(
        { operation: 'getTokensMe', times: 1 },
        { status: 503, headers: { 'Cache-Control': 'public, max-age=3600' } },
      );
      const res = await browser.get('/session', { csrf: true });
      expect(res.status).toBe(503);
      expect(res.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('X-Request-Id', () => {
    it('a valid incoming id is echoed, sent upstream as ININ-Correlation-Id and logged', async () => {
      const id = 'abc-123.x:y_z';
      const res = await browser.get('/session', { csrf: true, headers: { 'X-Request-Id': id } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe(id);
      const [call] = h.emulator.requestsFor('getTokensMe');
      expect(call?.headers['inin-correlation-id']).toBe(id);
      expect(res.headers.get('inin-correlation-id')).toBe(id);
      const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((l) => l.requestId === id).map((l) => l.msg)).toContain('request');
    });

    it('an id of exactly 128 safe characters is kept', async () => {
      const id = 'a'.repeat(128);
      const res = await browser.get('/session', { csrf: true, headers: { 'X-Request-Id': id } });
      expect(res.headers.get('x-request-id')).toBe(id);
    });

    it.each([
      ['129 characters', 'a'.repeat(129)],
      ['a space', 'abc 123'],
      ['non-ASCII bytes', Buffer.from('abc-é', 'utf8').toString('latin1')],
      ['an encoded CRLF (header injection)', 'abc%0d%0aSet-Cookie:%20x=1'],
      ['a slash and quotes', 'a/b"c'],
      ['an empty value', ''],
    ])('an id with %s is replaced by a fresh UUID, upstream and in the log', async (_n, bad) => {
      const res = await browser.get('/session', {
        csrf: true,
        headers: { 'X-Request-Id': bad },
      });
      expect(res.status).toBe(200);
      const id = res.headers.get('x-request-id') ?? '';
      expect(id).toMatch(UUID);
      expect(h.emulator.requestsFor('getTokensMe')[0]?.headers['inin-correlation-id']).toBe(id);
      if (bad !== '') expect(h.logs.join('\n')).not.toContain(bad);
      expect(res.headers.getSetCookie().filter((c) => c.startsWith('x='))).toEqual([]);
    });

    it('a raw CR or LF in the id never reaches the app: no echo, no injected header', async () => {
      for (const trick of ['abc\r\n Set-Cookie: x=1', 'abc\rSet-Cookie: x=1']) {
        const answer = await rawExchange(
          h.url,
          `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${trick}\r\nConnection: close\r\n\r\n`,
        );
        expect(answer).toMatch(/^HTTP\/1\.1 (400|200) /);
        expect(answer).not.toMatch(/^Set-Cookie: x=1/im);
        expect(answer).not.toMatch(/^X-Request-Id: abc/im);
      }
    });

    it('every response carries one, errors and probes included', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics', '/nope', '/session']) {
        const res = await h.client().get(path);
        expect(res.headers.get('x-request-id')).toMatch(UUID);
      }
    });

    it('every log line of one request carries its request id', async () => {
      const id = 'trace-me-1';
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { status: 401 });
      const before = h.logs.length;
      const res = await browser.get('/session', { csrf: true, headers: { 'X-Request-Id': id } });
      expect(res.status).toBe(401);
      const lines = h.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
      // At least the "session ended" line and the access line.
      expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['session ended', 'request']));
      for (const line of lines) expect(line.requestId).toBe(id);
    });

    it('the log lines of a failing upstream call carry the request id too', async () => {
      const id = 'trace-me-2';
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { reset: true });
      const before = h.logs.length;
      const res = await browser.get('/session', { csrf: true, headers: { 'X-Request-Id': id } });
      expect(res.status).toBe(502);
      expect(res.json()).toMatchObject({ requestId: id });
      const lines = h.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.length).toBeGreaterThanOrEqual(1);
      for (const line of lines) expect(line.requestId).toBe(id);
    });
  });

  describe('request bodies on /session', () => {
    it('an oversized body on DELETE /session answers 413 problem+json', async () => {
      const res = await browser.request('DELETE', '/session', {
        csrf: true,
        body: 'x'.repeat(100 * 1024),
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(res, 413);
      expect(h.emulator.requests).toEqual([]);
    });

    it('an oversized chunked body (no Content-Length) on DELETE /session answers 413', async () => {
      const chunk = 'y'.repeat(32 * 1024);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i += 1) controller.enqueue(new TextEncoder().encode(chunk));
          controller.close();
        },
      });
      const cookie = browser.cookieHeaderFor(new URL('/session', h.url));
      const res = await fetch(`${h.url}/session`, {
        method: 'DELETE',
        headers: { 'X-CSRF': '1', Cookie: cookie },
        body: stream,
        duplex: 'half',
      });
      expect(res.status).toBe(413);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    });

    it('a body sent with DELETE /session is read and dropped, never sent upstream', async () => {
      const res = await browser.request('DELETE', '/session', {
        csrf: true,
        body: '{"access_token":"x"}',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(204);
      expect(h.emulator.requestsFor('deleteTokensMe')[0]?.body).toBe('');
    });
  });
});
