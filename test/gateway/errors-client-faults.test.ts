import http from 'node:http';
import zlib from 'node:zlib';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import type { BrowserClient } from '../support/browser-client';
import { useHarness, type Harness } from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';

/** One request through node:http, which (unlike fetch) sends a body with any method. */
function nodeRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const out = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === 'string') out.set(name, value);
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: out,
          text: Buffer.concat(chunks).toString(),
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Log lines at pino's error level or above. */
function errorLines(h: Harness): string[] {
  return h.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
}

/** Bodies that claim an encoding they do not have, or one that does not decode. */
const BAD_BODIES: Array<[string, string, Buffer]> = [
  ['gzip that is not gzip', 'gzip', Buffer.from('definitely not gzip')],
  ['deflate that is not deflate', 'deflate', Buffer.from('definitely not deflate')],
  ['br that is not br', 'br', Buffer.from([0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x01])],
  ['truncated gzip', 'gzip', zlib.gzipSync(Buffer.from('{"a":1}')).subarray(0, 12)],
  ['deflate sent as gzip', 'gzip', zlib.deflateSync(Buffer.from('{"a":1}'))],
  ['gzip sent as br', 'br', zlib.gzipSync(Buffer.from('{"a":1}'))],
  ['an encoding nobody speaks', 'x-unheard-of', Buffer.from('abc')],
];

describe('client faults are 4xx problem+json, never 500, and never logged as errors', () => {
  const h = useHarness();

  const send = (
    client: BrowserClient,
    method: string,
    path: string,
    encoding: string,
    body: Buffer,
    type = 'application/octet-stream',
  ): ReturnType<BrowserClient['request']> =>
    client.request(method, path, {
      csrf: true,
      headers: { 'Content-Encoding': encoding, 'Content-Type': type },
      body: body as unknown as string,
    });

  describe.each(BAD_BODIES)('a body of %s on a /session route', (_name, encoding, body) => {
    it('GET without a session: 401, the body is dropped unread', async () => {
      // fetch refuses a GET with a body; browsers never send one, hostile clients do.
      const res = await nodeRequest(
        h.url,
        'GET',
        '/session',
        {
          'X-CSRF': '1',
          'Content-Encoding': encoding,
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(body.length),
        },
        body,
      );
      expect(res.status).toBe(401);
      expectProblem(res, 401);
      expect(errorLines(h)).toEqual([]);
    });

    it('DELETE /session still logs out: 204 and the session is gone', async () => {
      const browser = await h.login(AGENT_USER);
      const res = await send(browser, 'DELETE', '/session', encoding, body);
      expect(res.status).toBe(204);
      expect(await h.store.countSessions()).toBe(0);
      expect((await browser.get('/session', { csrf: true })).status).toBe(401);
      expect(errorLines(h)).toEqual([]);
    });
  });

  describe.each(BAD_BODIES)('a JSON body of %s on PUT /admin/tokens/timeout', (_n, enc, body) => {
    it('is a 4xx problem, and nothing reaches Genesys', async () => {
      const admin = await h.login(ADMIN_USER);
      const res = await send(admin, 'PUT', '/admin/tokens/timeout', enc, body, 'application/json');
      expect([400, 415]).toContain(res.status);
      expectProblem(res, res.status);
      expect(h.emulator.requests.filter((r) => r.path === '/api/v2/tokens/timeout')).toEqual([]);
      expect(errorLines(h)).toEqual([]);
    });
  });

  it('reads a well-formed gzip JSON body on PUT /admin/tokens/timeout', async () => {
    const admin = await h.login(ADMIN_USER);
    const json = Buffer.from(
      JSON.stringify({ enableIdleTokenTimeout: true, idleTokenTimeoutSeconds: 900 }),
    );
    const res = await send(
      admin,
      'PUT',
      '/admin/tokens/timeout',
      'gzip',
      zlib.gzipSync(json),
      'application/json',
    );
    expect(res.status).toBe(200);
  });

  describe.each([
    ['an invalid escape', '/admin/users/%ZZ/tokens'],
    ['a truncated UTF-8 escape', '/admin/users/%E0%A4%A/tokens'],
    ['a lone percent sign', '/admin/users/%/tokens'],
    ['an overlong UTF-8 escape', '/admin/users/%C0%AF/tokens'],
  ])('a path with %s', (_name, path) => {
    it('is a 400 problem, audited as 400, with no Genesys call', async () => {
      const admin = await h.login(ADMIN_USER);
      const before = h.emulator.requests.length;
      const res = await admin.request('DELETE', path, { csrf: true });
      expectProblem(res, 400);
      expect(h.emulator.requests.length).toBe(before);
      // The audit line is written as the response closes.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const audits = h.logs
        .map((line) => JSON.parse(line) as { audit?: boolean; outcome?: number })
        .filter((line) => line.audit === true);
      expect(audits.at(-1)?.outcome).toBe(400);
      expect(errorLines(h)).toEqual([]);
    });
  });

  it('answers a broken escape outside the known routes with a 4xx too', async () => {
    for (const path of ['/%ZZ', '/session/%E0%A4%A', '/auth/%']) {
      const res = await h.client().request('GET', path);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expectProblem(res, res.status);
    }
    expect(errorLines(h)).toEqual([]);
  });

  it('maps any error that carries a 4xx status to that status, as problem+json', async () => {
    // An oversized JSON body: body-parser's own 413, not a 500.
    const admin = await h.login(ADMIN_USER);
    const res = await send(
      admin,
      'PUT',
      '/admin/tokens/timeout',
      'identity',
      Buffer.from(`{"a":"${'x'.repeat(20_000)}"}`),
      'application/json',
    );
    expectProblem(res, 413);
    expect(errorLines(h)).toEqual([]);
  });
});
