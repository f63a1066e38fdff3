import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Request, Response } from 'express';
import express from 'express';
import fc from 'fast-check';
import { requestId } from '../../server/http/request-id';
import { HOSTILE_FRAGMENTS, hostileString, RUNS } from './arbitraries';
import { requestIdOf } from '../../server/core/request-id';

const SAFE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The contract's rule (docs/contract.md#request-ids), written without the middleware's regex: 1–128 characters of [A-Za-z0-9._:-]. */
function isSafeId(value: string): boolean {
  return (
    value.length >= 1 && value.length <= 128 && [...value].every((c) => SAFE_CHARS.includes(c))
  );
}

/** Runs the middleware on a fake request carrying `incoming` as X-Request-Id. */
function run(incoming: string | undefined): { id: string; header: unknown } {
  const headers: Record<string, unknown> = {};
  const req = {
    get: (name: string) => (name.toLowerCase() === 'x-request-id' ? incoming : undefined),
  } as unknown as Request;
  const res = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = value;
    },
  } as unknown as Response;
  let nextCalls = 0;
  requestId()(req, res, (err?: unknown) => {
    expect(err).toBeUndefined();
    nextCalls += 1;
  });
  expect(nextCalls).toBe(1);
  return { id: requestIdOf(req), header: headers['x-request-id'] };
}

const safeChar = fc.constantFrom(...SAFE_CHARS);
const safeId = fc.stringOf(safeChar, { minLength: 1, maxLength: 128 });
/** Ids around the length bound, and safe ids spoiled by one character (a trailing newline too). */
const nearlySafe = fc.oneof(
  fc.stringOf(safeChar, { minLength: 120, maxLength: 140 }),
  fc
    .tuple(
      fc.stringOf(safeChar, { maxLength: 20 }),
      fc.constantFrom(...HOSTILE_FRAGMENTS, '\n', ' ', '/', '%', '\u00b7', '\u0131', '\u212a'),
      fc.stringOf(safeChar, { maxLength: 20 }),
    )
    .map(([a, bad, b]) => a + bad + b),
  safeId.map((id) => `${id}\n`),
  safeId.map((id) => `${id}, ${id}`),
);
const incoming = fc.oneof(safeId, nearlySafe, hostileString, fc.constant(''));

/** What Node accepts in a header value (and so what a request to a real server can carry). */
function isHeaderSafe(value: string): boolean {
  try {
    http.validateHeaderValue('x-request-id', value);
    return true;
  } catch {
    return false;
  }
}

describe('requestId middleware (property)', () => {
  it('an incoming X-Request-Id is adopted exactly when it is 1–128 characters of [A-Za-z0-9._:-]', () => {
    fc.assert(
      fc.property(incoming, (value) => {
        const { id } = run(value);
        if (isSafeId(value)) expect(id).toBe(value);
        else expect(id).not.toBe(value);
      }),
      { numRuns: RUNS },
    );
  });

  it('an id that is not adopted is replaced by a fresh UUID, a new one each time', () => {
    fc.assert(
      fc.property(
        fc.option(
          incoming.filter((v) => !isSafeId(v)),
          { nil: undefined },
        ),
        (value) => {
          const first = run(value).id;
          const second = run(value).id;
          expect(first).toMatch(UUID_V4);
          expect(second).toMatch(UUID_V4);
          expect(second).not.toBe(first);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the echoed X-Request-Id equals the request id and is always safe for a header and a log line', () => {
    fc.assert(
      fc.property(fc.option(incoming, { nil: undefined }), (value) => {
        const { id, header } = run(value);
        expect(header).toBe(id);
        expect(typeof id).toBe('string');
        expect(isSafeId(id)).toBe(true);
        expect(isHeaderSafe(id)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  describe('over HTTP', () => {
    let server: http.Server;
    let port: number;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

    beforeAll(async () => {
      const app = express();
      app.use(requestId());
      app.get('/id', (req, res) => {
        res.json({ id: requestIdOf(req) });
      });
      server = http.createServer(app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    afterAll(async () => {
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    function get(
      values: string[],
    ): Promise<{ status: number; header: string | undefined; text: string }> {
      return new Promise((resolve, reject) => {
        // Raw headers: a repeated X-Request-Id arrives as Node joins it (`a, b`).
        const headers = [
          'Host',
          `127.0.0.1:${port}`,
          ...values.flatMap((v) => ['X-Request-Id', v]),
        ];
        const req = http.request(
          { host: '127.0.0.1', port, path: '/id', agent, headers },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                header: res.headers['x-request-id'] as string | undefined,
                text,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    }

    // Everything a client can put on the wire in a header value: tab, visible ASCII, obs-text.
    const wireChar = fc.oneof(
      { arbitrary: safeChar, weight: 6 },
      {
        arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        weight: 2,
      },
      {
        arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
        weight: 1,
      },
      { arbitrary: fc.constant('\t'), weight: 1 },
    );
    const wireValue = fc.oneof(
      fc.stringOf(wireChar, { maxLength: 140 }),
      fc.stringOf(safeChar, { minLength: 1, maxLength: 140 }),
    );

    it('a real request gets its own id back only when it is safe, and a safe header otherwise', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(wireValue, { maxLength: 2 }), async (values) => {
          const { status, header, text } = await get(values);
          expect({ status, values }).toEqual({ status: 200, values });
          const body = JSON.parse(text) as { id: string };
          expect(header).toBe(body.id);
          expect(isSafeId(body.id)).toBe(true);
          // What the server saw: Node trims the value and joins repeats with ", ".
          const seen =
            values.length === 0
              ? undefined
              : values.map((v) => v.replace(/^[ \t]+|[ \t]+$/g, '')).join(', ');
          if (seen !== undefined && isSafeId(seen)) expect(body.id).toBe(seen);
          else expect(body.id).toMatch(UUID_V4);
        }),
        { numRuns: 500 },
      );
    });
  });
});
