import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, UpstreamTimeoutError, UpstreamUnavailableError } from '../server/core/errors';
import { createUpstreamHttp, type UpstreamHttp } from '../server/genesys/http';

/** A real upstream on 127.0.0.1:0 that counts its TCP connections and the requests it got. */
interface FakeUpstream {
  readonly url: string;
  readonly connections: () => number;
  readonly received: {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: string;
  }[];
  close(): Promise<void>;
}

async function startUpstream(handler: http.RequestListener): Promise<FakeUpstream> {
  let connections = 0;
  const received: FakeUpstream['received'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res);
    });
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** The AppError a call rejects with, and what the observer was told. */
async function failure(
  client: UpstreamHttp,
  path = '/x',
  how: 'request' | 'requestJson' = 'requestJson',
): Promise<{ err: AppError; outcomes: string[]; ms: number }> {
  const outcomes: string[] = [];
  const started = Date.now();
  try {
    await client[how]({
      method: 'GET',
      path,
      headers: {},
      observe: (o) => outcomes.push(o),
    });
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { err, outcomes, ms: Date.now() - started };
  }
  throw new Error('the call succeeded');
}

describe('upstream-http requestJson', () => {
  let upstream: FakeUpstream | undefined;
  let client: UpstreamHttp | undefined;

  afterEach(async () => {
    client?.close();
    await upstream?.close();
    client = undefined;
    upstream = undefined;
  });

  it('sends the method, path, headers and form body, and parses the JSON answer', async () => {
    upstream = await startUpstream((_req, res) => json(res, 200, { access_token: 'a' }));
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 2000 });
    const outcomes: string[] = [];
    const answer = await client.requestJson({
      method: 'POST',
      path: '/oauth/token',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'ININ-Correlation-Id': 'req-1',
      },
      body: 'grant_type=authorization_code&code=%C3%A9',
      observe: (o) => outcomes.push(o),
    });
    expect(answer).toEqual({ status: 200, body: { access_token: 'a' } });
    expect(outcomes).toEqual(['200']);
    expect(upstream.received).toHaveLength(1);
    expect(upstream.received[0]).toMatchObject({
      method: 'POST',
      url: '/oauth/token',
      body: 'grant_type=authorization_code&code=%C3%A9',
    });
    expect(upstream.received[0]?.headers).toMatchObject({
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': '41',
      'inin-correlation-id': 'req-1',
    });
  });

  it('reuses one keep-alive connection for consecutive calls', async () => {
    upstream = await startUpstream((_req, res) => json(res, 200, { ok: true }));
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 2000 });
    await client.requestJson({ method: 'GET', path: '/a', headers: {} });
    await client.requestJson({ method: 'POST', path: '/b', headers: {}, body: 'x=1' });
    await client.request({ method: 'DELETE', path: '/c', headers: {} });
    expect(upstream.received.map((r) => r.url)).toEqual(['/a', '/b', '/c']);
    expect(upstream.connections()).toBe(1);
  });

  it('when upstream sends no answer, fails with 504 within the timeout', async () => {
    upstream = await startUpstream(() => undefined);
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 200 });
    const { err, outcomes, ms } = await failure(client);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect(err.status).toBe(504);
    expect(outcomes).toEqual(['timeout']);
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(1000);
  });

  it('when the body trickles past the deadline, fails with 504 at the deadline', async () => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
      res.write('{"a":');
    });
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 200 });
    const { err, ms } = await failure(client);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect(ms).toBeLessThan(1000);
  });

  it('when the connection is reset mid-body, fails with 502', async () => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
      res.write('{"access_token":', () => res.socket?.resetAndDestroy());
    });
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 2000 });
    const { err, outcomes } = await failure(client);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect(err.status).toBe(502);
    expect(err.detail).toMatch(/mid-answer/);
    // The head had arrived: the metric carries its status, as it did with fetch.
    expect(outcomes).toEqual(['200']);
  });

  it('when upstream cannot be reached, fails with 502', async () => {
    client = createUpstreamHttp({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 2000 });
    const { err, outcomes } = await failure(client);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect(err.status).toBe(502);
    expect(outcomes).toEqual(['error']);
  });

  it.each([
    ['declared', true],
    ['chunked', false],
  ])(
    'refuses an oversized %s body with 502, and the next call still works',
    async (_kind, declared) => {
      let calls = 0;
      upstream = await startUpstream((_req, res) => {
        calls += 1;
        if (calls > 1) return json(res, 200, { ok: true });
        const big = `{"a":"${'x'.repeat(4096)}"}`;
        res.writeHead(200, {
          'Content-Type': 'application/json',
          ...(declared ? { 'Content-Length': Buffer.byteLength(big) } : {}),
        });
        res.end(big);
      });
      client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 2000, maxBodyBytes: 1024 });
      const { err } = await failure(client);
      expect(err).toBeInstanceOf(UpstreamUnavailableError);
      expect(err.detail).toMatch(/oversized/);
      await expect(client.requestJson({ method: 'GET', path: '/y', headers: {} })).resolves.toEqual(
        {
          status: 200,
          body: { ok: true },
        },
      );
    },
  );

  it.each([
    ['an HTML page', 'text/html', '<html>oops</html>', /malformed/],
    ['truncated JSON', 'application/json', '{"a":', /malformed/],
    ['a JSON array', 'application/json', '[1,2]', /unexpected/],
    ['an empty body', 'application/json', '', /malformed/],
  ])('refuses %s with 502', async (_kind, type, text, detail) => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    });
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 2000 });
    const { err } = await failure(client);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect(err.status).toBe(502);
    expect(err.detail).toMatch(detail);
  });

  it('does not follow a redirect: the 3xx is the answer', async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url === '/moved') {
        res.writeHead(302, { Location: '/elsewhere', 'Content-Length': '0' });
        res.end();
      } else {
        json(res, 200, { followed: true });
      }
    });
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 2000 });
    const answer = await client.request({ method: 'GET', path: '/moved', headers: {} });
    expect(answer.status).toBe(302);
    expect(upstream.received.map((r) => r.url)).toEqual(['/moved']);
  });

  it('drains a body nobody parses, so its connection goes back to the pool', async () => {
    upstream = await startUpstream((req, res) => {
      if (req.method === 'DELETE') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('x'.repeat(10_000));
      } else {
        json(res, 200, { ok: true });
      }
    });
    client = createUpstreamHttp({ baseUrl: upstream.url, timeoutMs: 2000 });
    expect((await client.request({ method: 'DELETE', path: '/t', headers: {} })).status).toBe(200);
    await client.requestJson({ method: 'GET', path: '/u', headers: {} });
    expect(upstream.connections()).toBe(1);
  });
});
