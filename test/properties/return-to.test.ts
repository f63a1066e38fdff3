import fc from 'fast-check';
import { BadRequestError } from '../../server/core/errors';
import { MAX_RETURN_TO_BYTES, parseReturnTo } from '../../server/routes/return-to';
import { anyInput, fragmentString, hostileString, RUNS } from './arbitraries';

const ORIGINS = [
  'https://app.example.com',
  'http://127.0.0.1:3000',
  'http://localhost:8080',
  'https://[::1]:8443',
];
const origin = fc.constantFrom(...ORIGINS);

/** parseReturnTo's answer, or the error it threw. */
function attempt(raw: unknown, publicOrigin: string): { ok: string } | { error: unknown } {
  try {
    return { ok: parseReturnTo(raw, publicOrigin) };
  } catch (error) {
    return { error };
  }
}

function isRefusal(error: unknown): boolean {
  return error instanceof BadRequestError && error.status === 400;
}

/** A candidate that starts like a path, so more of them get past the first checks. */
const pathLike = fc.oneof(
  hostileString.map((s) => `/${s}`),
  fc.webPath(),
  fc
    .tuple(fc.webPath(), fc.webQueryParameters(), fc.webFragments())
    .map(([p, q, f]) => `/${p}?${q}#${f}`),
  fragmentString,
  hostileString,
);

/** C0 controls and DEL: what the URL parser strips or drops before it reads a path. */
function hasControl(s: string): boolean {
  return [...s].some((c) => (c.codePointAt(0) as number) < 0x20 || c === '\u007f');
}

describe('parseReturnTo (property)', () => {
  it('any accepted returnTo resolves against the public origin to that same origin', () => {
    fc.assert(
      fc.property(pathLike, origin, (raw, publicOrigin) => {
        const result = attempt(raw, publicOrigin);
        if ('ok' in result) expect(new URL(result.ok, publicOrigin).origin).toBe(publicOrigin);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('any accepted returnTo is a path starting with exactly one slash, with no backslash or control character', () => {
    fc.assert(
      fc.property(pathLike, origin, (raw, publicOrigin) => {
        const result = attempt(raw, publicOrigin);
        if (!('ok' in result)) return;
        expect(result.ok.startsWith('/')).toBe(true);
        expect(result.ok.startsWith('//')).toBe(false);
        expect(result.ok.includes('\\')).toBe(false);
        expect(hasControl(result.ok)).toBe(false);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('anything refused is a 400 BadRequestError, never another error, for any input at all', () => {
    fc.assert(
      fc.property(fc.oneof(pathLike, anyInput), origin, (raw, publicOrigin) => {
        const result = attempt(raw, publicOrigin);
        if ('error' in result) expect(isRefusal(result.error)).toBe(true);
        else expect(typeof result.ok).toBe('string');
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('an absolute URL, a //host, a /\\host or a path broken by a control character is always refused', () => {
    const host = fc.oneof(fc.domain(), fc.constantFrom('evil.example', '127.0.0.1', '[::1]'));
    const attack = fc.oneof(
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc
        .tuple(
          fc.constantFrom(
            '//',
            '/\\',
            '\\/',
            '\\\\',
            '/\t/',
            '/\n/',
            '/\r/',
            '/\u0000/',
            ' //',
            '\t//',
            '///',
            'https:',
            'https://',
            'http:/',
            'javascript:',
            'JAVASCRIPT:',
            'data:',
          ),
          host,
          fc.webPath(),
        )
        .map(([prefix, h, p]) => `${prefix}${h}${p}`),
      fc
        .tuple(fc.webPath(), fc.constantFrom('\\', '\t', '\n', '\r', '\u0000', '\u001f', '\u007f'))
        .map(([p, bad]) => `/a${p}${bad}`),
    );
    fc.assert(
      fc.property(attack, origin, (raw, publicOrigin) => {
        const result = attempt(raw, publicOrigin);
        expect('error' in result && isRefusal(result.error)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('an ordinary same-origin path within the size cap is accepted unchanged', () => {
    const ordinary = fc
      .tuple(
        fc.webSegment().filter((s) => s.length > 0),
        fc.webPath(),
        fc.option(fc.webQueryParameters(), { nil: undefined }),
        fc.option(fc.webFragments(), { nil: undefined }),
      )
      .map(
        ([first, rest, q, f]) =>
          `/${first}${rest}${q === undefined ? '' : `?${q}`}${f === undefined ? '' : `#${f}`}`,
      )
      .filter((p) => Buffer.byteLength(JSON.stringify(p)) - 2 <= MAX_RETURN_TO_BYTES);
    fc.assert(
      fc.property(ordinary, origin, (raw, publicOrigin) => {
        expect(parseReturnTo(raw, publicOrigin)).toBe(raw);
      }),
      { numRuns: RUNS },
    );
  });

  it(`a returnTo is accepted only up to ${MAX_RETURN_TO_BYTES} bytes as its cookie holds it (UTF-8, JSON-escaped), not characters`, () => {
    // Characters of 1, 2, 3 and 4 UTF-8 bytes (é is the 2,047-character cookie of issue 8).
    const char = fc.constantFrom('a', '-', '\u00e9', '\u20ac', '\u{1d4b3}', '%41', '"');
    const nearTheCap = fc
      .tuple(fc.array(char, { minLength: 1, maxLength: 6 }), fc.integer({ min: 150, max: 1100 }))
      .map(([chars, n]) => {
        let s = '/';
        for (let i = 0; i < n; i += 1) s += chars[i % chars.length];
        return s;
      });
    fc.assert(
      fc.property(nearTheCap, origin, (raw, publicOrigin) => {
        const result = attempt(raw, publicOrigin);
        if (Buffer.byteLength(JSON.stringify(raw), 'utf8') - 2 > MAX_RETURN_TO_BYTES) {
          expect('error' in result && isRefusal(result.error)).toBe(true);
        } else {
          expect(result).toEqual({ ok: raw });
        }
      }),
      { numRuns: RUNS },
    );
  });
});
