import http from 'node:http';
import net from 'node:net';
import { refusalOf } from '../../server/http/client-error';
import { expectProblem } from '../support/expect-problem';
import { startHarness, type Harness } from '../support/gateway-harness';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';

// Requests Node's HTTP parser refuses before Express sees them (the server's clientError event),
// sent over raw sockets as a hostile client would. Without a handler Node answers them with a bare
// status line: no body, no X-Request-Id, none of the gateway's headers (issue 8).

interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Writes `bytes` on a fresh connection; resolves with everything read once the server closes it. */
function exchange(h: Harness, bytes: string, ms = 3000): Promise<string> {
  const { port } = new URL(h.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let read = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${ms} ms:\n${read}`));
    }, ms);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (read += chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(read);
    });
    socket.write(bytes, 'latin1');
  });
}

/** Splits what was read into answers (each with a Content-Length, as the gateway sends them). */
function answers(read: string): RawAnswer[] {
  const found: RawAnswer[] = [];
  let rest = read;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) throw new Error(`not an HTTP answer: ${JSON.stringify(rest)}`);
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get('content-length') ?? 0);
    const text = rest.slice(end + 4, end + 4 + length);
    found.push({ status: Number(statusLine.split(' ')[1]), headers, text });
    rest = rest.slice(end + 4 + length);
  }
  return found;
}

/** The one answer of a refused request, checked as every gateway problem answer is. */
function refusal(read: string, status: number, code: string): Record<string, unknown> {
  const all = answers(read);
  expect(all).toHaveLength(1);
  const answer = all[0] as RawAnswer;
  const body = expectProblem(answer, status);
  expect(body.type).toBe(`urn:tokens-bff:problem:${code}`);
  expect(answer.headers.get('x-request-id')).toMatch(
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  expect(answer.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(answer.headers.get('connection')).toBe('close');
  expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  expect(answer.headers.get('cache-control')).toBe('no-store');
  expect(answer.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
  expect(answer.headers.get('date')).not.toBeNull();
  return body;
}

describe('requests Node refuses before the app', () => {
  let h: Harness;

  beforeEach(async () => {
    // Debug is where these go, if anywhere: check that nothing goes higher.
    h = await startHarness({ env: { LOG_LEVEL: 'debug' } });
  });

  afterEach(async () => {
    // The server still serves everyone else.
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect(h.logs.filter((line) => /"level":"(warn|error|fatal)"/.test(line))).toEqual([]);
    await h.close();
  });

  it('a 20 KB header gets a 431 problem and the connection closes', async () => {
    const read = await exchange(
      h,
      `GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    const body = refusal(read, 431, 'headers-too-large');
    expect(body.title).toBe('Request Header Fields Too Large');
    expect(read).not.toContain('aaaa');
  });

  it('an unknown method gets a 400 problem naming the parser error, not the input', async () => {
    const read = await exchange(h, 'BREW /session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const body = refusal(read, 400, 'malformed-request');
    expect(body.detail).toBe('The request is not valid HTTP/1.1 (HPE_INVALID_METHOD).');
    expect(read).not.toContain('BREW');
  });

  it('a malformed request line gets a 400 problem', async () => {
    refusal(
      await exchange(h, 'GET /session HTTX/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      400,
      'malformed-request',
    );
  });

  it('a control character in a header value gets a 400 problem', async () => {
    refusal(
      await exchange(h, 'GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Evil: a\x01b\r\n\r\n'),
      400,
      'malformed-request',
    );
  });

  it('a space in a header name (a smuggling classic) gets a 400 problem', async () => {
    refusal(
      await exchange(
        h,
        'POST /auth/logout HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
      ),
      400,
      'malformed-request',
    );
  });

  it('an HTTP/1.1 request without Host gets a 400 problem', async () => {
    refusal(await exchange(h, 'GET /healthz HTTP/1.1\r\n\r\n'), 400, 'missing-host');
  });

  it('an Expect other than 100-continue gets a 417 problem', async () => {
    const body = refusal(
      await exchange(h, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 200-ok\r\n\r\n'),
      417,
      'expectation-failed',
    );
    expect(body.title).toBe('Expectation Failed');
  });

  it('a bad request pipelined after a slow good one is refused after the good answer, not in its place', async () => {
    const browser = await h.login(AGENT_USER);
    const cookie = browser.cookieHeaderFor(new URL('/session', h.url));
    // The bad request is parsed while the good one still waits on Genesys.
    h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 200 });
    const read = await exchange(
      h,
      `GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\n\r\n` +
        'BREW / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    );
    const [first, second, ...more] = answers(read);
    expect(first?.status).toBe(200);
    expect(JSON.parse(first?.text ?? '')).toMatchObject({ organization: expect.any(Object) });
    expect(second?.status).toBe(400);
    expect(JSON.parse(second?.text ?? '')).toMatchObject({
      type: 'urn:tokens-bff:problem:malformed-request',
    });
    expect(more).toEqual([]);
  });

  it('counts each refusal by code and logs none of them above debug', async () => {
    const bad = 'BREW / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    await Promise.all(Array.from({ length: 20 }, () => exchange(h, bad)));
    await exchange(h, `GET / HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    const metric = await h.metrics.registry.getSingleMetric('bff_client_errors_total')?.get();
    const counts = Object.fromEntries(
      (metric?.values ?? []).map((v) => [String(v.labels.code), v.value]),
    );
    expect(counts).toEqual({ HPE_INVALID_METHOD: 20, HPE_HEADER_OVERFLOW: 1 });
  });

  it('a client that resets its connection is not answered, counted only', async () => {
    const { port } = new URL(h.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const metric = await h.metrics.registry.getSingleMetric('bff_client_errors_total')?.get();
    expect(metric?.values.map((v) => v.labels.code)).toEqual(['ECONNRESET']);
  });
});

describe('a body that fails to parse after the app has its request', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'debug' } });
  });

  afterEach(async () => {
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    await h.close();
  });

  it('answered already (403 before the body is read): no second answer, the connection ends', async () => {
    const read = await exchange(
      h,
      'POST /session HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    );
    // One answer: a second one would be read as the answer to the client's next request.
    expect(answers(read).map((a) => a.status)).toEqual([403]);
  });

  it('still reading the body: the connection ends at once instead of hanging', async () => {
    const browser = await h.login(AGENT_USER);
    const cookie = browser.cookieHeaderFor(new URL('/session', h.url));
    const started = Date.now();
    const read = await exchange(
      h,
      `DELETE /session HTTP/1.1\r\nHost: 127.0.0.1\r\nX-CSRF: 1\r\nCookie: ${cookie}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX`,
      5000,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    // Nothing, or one answer: never two.
    expect(answers(read).length).toBeLessThanOrEqual(1);
  });
});

describe('Expect: 100-continue on the proxied routes', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
  });

  afterEach(() => h.close());

  function withExpect(
    method: string,
    path: string,
    cookie: string,
    body?: string,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(new URL(path, h.url), {
        method,
        headers: {
          Cookie: cookie,
          'X-CSRF': '1',
          Expect: '100-continue',
          ...(body === undefined
            ? {}
            : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }),
        },
      });
      req.on('continue', () => req.end(body));
      if (body === undefined) req.end();
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    });
  }

  it("still sends Genesys the session's token and none of the browser's headers", async () => {
    const browser = await h.login(AGENT_USER);
    const cookie = browser.cookieHeaderFor(new URL('/session', h.url));
    h.emulator.clearRequests();
    const res = await withExpect('GET', '/session', cookie);
    expect(res.status).toBe(200);
    const [upstream] = h.emulator.requestsFor('getTokensMe');
    expect(upstream?.headers.authorization).toMatch(/^Bearer /);
    expect(upstream?.headers.cookie).toBeUndefined();
    expect(upstream?.headers['x-csrf']).toBeUndefined();
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
  });

  it('finishes a call with a body (PUT /admin/tokens/timeout)', async () => {
    const admin = await h.login(ADMIN_USER);
    const cookie = admin.cookieHeaderFor(new URL('/admin/tokens/timeout', h.url));
    const res = await withExpect(
      'PUT',
      '/admin/tokens/timeout',
      cookie,
      JSON.stringify({ enableIdleTokenTimeout: true, idleTokenTimeoutSeconds: 900 }),
    );
    expect(res.status).toBe(200);
  });
});

describe('refusalOf', () => {
  const code = (name: string) => Object.assign(new Error(name), { code: name });

  it.each([
    ['HPE_HEADER_OVERFLOW', 431, 'headers-too-large'],
    ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 413, 'chunk-extensions-too-large'],
    // Node's slowloris guard (headersTimeout / requestTimeout): it answers 408 itself, bare.
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request-timeout'],
    ['HPE_INVALID_TRANSFER_ENCODING', 400, 'malformed-request'],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 400, 'malformed-request'],
  ])('answers %s with %i %s', (name, status, problem) => {
    expect(refusalOf(code(name))).toMatchObject({ status, code: problem });
  });

  it.each(['ECONNRESET', 'EPIPE', 'ETIMEDOUT'])(
    'answers nothing to %s: the client is gone',
    (name) => {
      expect(refusalOf(code(name))).toBeUndefined();
    },
  );
});
