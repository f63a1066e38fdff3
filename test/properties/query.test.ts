import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type Request } from 'express';
import fc from 'fast-check';
import { AppError, BadRequestError } from '../../server/core/errors';
import { booleanQuery, singleValue } from '../../server/routes/query';
import { hostileString, isWellFormed, RUNS } from './arbitraries';

const NAME = 'preserveIdleTTL';
// Short enough that a query of several still fits Node's 16 KB request head.
const hostileShort = hostileString.map((s) => s.slice(0, 200));

/** An answer of the function under test, or the error it threw. */
function attempt<T>(fn: () => T): { ok: T } | { error: unknown } {
  try {
    return { ok: fn() };
  } catch (error) {
    return { error };
  }
}

function isRefusal(result: { error: unknown } | { ok: unknown }): boolean {
  return (
    'error' in result && result.error instanceof BadRequestError && result.error.status === 400
  );
}

/** Flag values: the two good words, their near misses, and anything else. */
const flagValue = fc.oneof(
  { arbitrary: fc.constantFrom('true', 'false'), weight: 4 },
  {
    arbitrary: fc.constantFrom(
      'TRUE',
      'True',
      'FALSE',
      '1',
      '0',
      '',
      ' true',
      'true ',
      'true\n',
      'true\u0000',
      'yes',
      'on',
      'null',
      'undefined',
      'tru',
      'truee',
      'tr\u00fce',
      'true,false',
      'true&false',
      '[true]',
      '\ufefftrue',
    ),
    weight: 3,
  },
  { arbitrary: hostileShort, weight: 2 },
);

/** What `req.query[name]` can hold with any query parser: strings, arrays, nested objects. */
const queryValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: flagValue, weight: 4 },
  { arbitrary: fc.array(flagValue, { maxLength: 3 }), weight: 2 },
  { arbitrary: fc.dictionary(fc.string({ maxLength: 3 }), flagValue, { maxKeys: 2 }), weight: 1 },
  { arbitrary: fc.anything(), weight: 1 },
);
/** Array-shaped forms of the flag: brackets, as qs-style parsers and PHP read them. */
const BRACKETED = ['[]', '[0]', '[1]', '[x]', '[][]', '[a][b]', '[true]', `[${NAME}]`].map(
  (b) => NAME + b,
);
const query = fc
  .tuple(
    fc.option(queryValue, { nil: undefined }),
    fc.dictionary(hostileString, fc.string()),
    fc.option(fc.tuple(fc.constantFrom(...BRACKETED), flagValue), { freq: 4, nil: undefined }),
  )
  .map(([value, others, bracketed]) => {
    const q: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(others))
      if (k !== NAME && !k.startsWith(`${NAME}[`)) q[k] = v;
    if (value !== undefined) q[NAME] = value;
    if (bracketed !== undefined) q[bracketed[0]] = bracketed[1];
    return q as Request['query'];
  });
const hasBracketed = (q: Request['query']): boolean =>
  Object.keys(q).some((k) => k.startsWith(`${NAME}[`));

describe('query flags (property)', () => {
  it('singleValue returns a lone string value or nothing, and refuses anything else (arrays, objects, a name[…] key) with 400', () => {
    fc.assert(
      fc.property(query, (q) => {
        const value = q[NAME];
        const result = attempt(() => singleValue(q, NAME));
        if (hasBracketed(q)) expect(isRefusal(result)).toBe(true);
        else if (value === undefined || typeof value === 'string')
          expect(result).toEqual({ ok: value });
        else expect(isRefusal(result)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('booleanQuery accepts exactly "true" and "false"; any other present value, or a name[…] key, is a 400', () => {
    fc.assert(
      fc.property(query, (q) => {
        const value = q[NAME];
        const result = attempt(() => booleanQuery({ query: q } as Request, NAME));
        if (hasBracketed(q)) expect(isRefusal(result)).toBe(true);
        else if (value === undefined) expect(result).toEqual({ ok: undefined });
        else if (value === 'true') expect(result).toEqual({ ok: true });
        else if (value === 'false') expect(result).toEqual({ ok: false });
        else expect(isRefusal(result)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  describe('over HTTP (an Express 5 app with the gateway query parser)', () => {
    let server: http.Server;
    let port: number;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

    beforeAll(async () => {
      // server/app.ts keeps Express 5's default query parser ('simple', node:querystring).
      const app = express();
      app.get('/flag', (req, res) => {
        res.json({ value: booleanQuery(req, NAME) ?? null });
      });
      const onError: ErrorRequestHandler = (err, _req, res, _next) => {
        res.status(err instanceof AppError ? err.status : 500).json({ error: String(err) });
      };
      app.use(onError);
      server = http.createServer(app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    afterAll(async () => {
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    function get(path: string): Promise<{ status: number; body: { value?: unknown } }> {
      return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path, agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            // Node's own refusals (431, 400) have no JSON body: the status says what happened.
            const json = (res.headers['content-type'] ?? '').startsWith('application/json');
            resolve({ status, body: json ? (JSON.parse(text) as { value?: unknown }) : {} });
          });
        });
        req.on('error', reject);
        req.end();
      });
    }

    /** A parameter as decoded by the server, and whether the oracle counts it as the flag. */
    interface Param {
      readonly key: string;
      readonly value: string;
      /** `name=`, `name` alone: both mean the empty value. */
      readonly bareKey: boolean;
    }

    const bracketKey = fc.constantFrom(...BRACKETED);
    const otherKey = fc
      .oneof(
        fc.constantFrom(
          'preserveidlettl',
          'PRESERVEIDLETTL',
          `${NAME}x`,
          `x${NAME}`,
          `${NAME} `,
          ` ${NAME}`,
          `${NAME}.x`,
          'returnTo',
          'x',
          '__proto__',
          'constructor',
          '',
        ),
        hostileShort,
      )
      .filter((k) => k !== NAME && !k.startsWith(`${NAME}[`));
    const param: fc.Arbitrary<Param> = fc.oneof(
      {
        arbitrary: fc.record({ key: fc.constant(NAME), value: flagValue, bareKey: fc.boolean() }),
        weight: 5,
      },
      {
        arbitrary: fc.record({ key: bracketKey, value: flagValue, bareKey: fc.boolean() }),
        weight: 2,
      },
      {
        arbitrary: fc.record({ key: otherKey, value: hostileShort, bareKey: fc.boolean() }),
        weight: 2,
      },
    );

    // Characters the encoder may leave raw: they mean themselves in a query component.
    const RAW_SAFE = /^[A-Za-z0-9\-._~!$'()*,;:@/?[\]]$/;
    /** Encodes `text` as a query component, each character raw or percent-escaped at random. */
    const encoded = (text: string): fc.Arbitrary<string> =>
      fc.array(fc.boolean(), { minLength: text.length, maxLength: text.length }).map((raw) =>
        [...text]
          .map((c, i) =>
            raw[i % raw.length] && RAW_SAFE.test(c)
              ? c
              : c === ' ' && raw[i % raw.length]
                ? '+'
                : // Lone surrogates go as U+FFFD, as a browser sends them; everything decodes back.
                  encodeURIComponent(isWellFormed(c) ? c : '\ufffd'),
          )
          .join(''),
      );

    const queryString = fc
      .array(param, { maxLength: 6 })
      .chain((params) =>
        fc
          .tuple(
            ...params.map((p) =>
              fc
                .tuple(encoded(p.key), encoded(p.value))
                .map(([k, v]) => (p.bareKey && p.value === '' ? k : `${k}=${v}`)),
            ),
          )
          .map((parts) => ({ params, search: parts.join('&') })),
      );

    /** Decoded as the server will see it (U+FFFD for lone surrogates, like the encoder). */
    const wellFormed = (s: string): string =>
      [...s].map((c) => (isWellFormed(c) ? c : '\ufffd')).join('');

    it('200 only for at most one exact preserveIdleTTL=true|false; repeats, brackets and other values are 400', async () => {
      await fc.assert(
        fc.asyncProperty(queryString, async ({ params, search }) => {
          const flags = params.filter((p) => p.key === NAME);
          const shaped = params.filter((p) => p.key.startsWith(`${NAME}[`));
          const { status, body } = await get(`/flag?${search}`);
          const only = flags[0];
          if (shaped.length > 0 || flags.length > 1) {
            expect({ search, status }).toEqual({ search, status: 400 });
          } else if (only === undefined) {
            expect({ search, status, value: body.value }).toEqual({
              search,
              status: 200,
              value: null,
            });
          } else {
            const value = wellFormed(only.value);
            const expected =
              value === 'true'
                ? { status: 200, value: true }
                : value === 'false'
                  ? { status: 200, value: false }
                  : { status: 400, value: undefined };
            expect({ search, status, value: body.value }).toEqual({ search, ...expected });
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
});
