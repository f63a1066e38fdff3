import type { Request, Response } from 'express';
import fc from 'fast-check';
import { requireAntiForgery } from '../../server/http/anti-forgery';
import { ForbiddenError } from '../../server/core/errors';
import { hostileString, longString, RUNS } from './arbitraries';

const ORIGINS = ['https://app.example.com', 'http://127.0.0.1:3000', 'http://localhost:8080'];

/** Origins that look like ours but are not: case, ports, slashes, schemes, hosts, whitespace. */
function lookalikes(origin: string): fc.Arbitrary<string> {
  const url = new URL(origin);
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  return fc.oneof(
    fc.mixedCase(fc.constant(origin)).filter((o) => o !== origin),
    fc.constantFrom(
      `${origin}/`,
      `${origin}/path`,
      `${origin}:${defaultPort}`,
      `${url.protocol}//${url.hostname}:${defaultPort}`,
      `${url.protocol}//${url.hostname}:1`,
      `${url.protocol === 'https:' ? 'http:' : 'https:'}//${url.host}`,
      `${url.protocol}//evil.${url.host}`,
      `${url.protocol}//${url.host}.evil.example`,
      `${url.protocol}//${url.host}@evil.example`,
      ` ${origin}`,
      `${origin} `,
      `${origin}\t`,
      `${origin}\u0000`,
      `${origin},${origin}`,
      `${origin}, https://evil.example`,
      'null',
      'NULL',
      '',
      '*',
      'file://',
    ),
    fc.tuple(hostileString, fc.boolean()).map(([s, before]) => (before ? s + origin : origin + s)),
  );
}

const otherOrigin = (origin: string): fc.Arbitrary<string> =>
  fc
    .oneof(
      lookalikes(origin),
      fc.webUrl().map((u) => new URL(u).origin),
      fc.webUrl(),
      hostileString,
      longString,
    )
    .filter((o) => o !== origin);

const SITES = ['same-origin', 'none', 'same-site', 'cross-site', 'Same-Origin', 'same-origin ', ''];
const site = fc.oneof(fc.constantFrom(...SITES), hostileString);
const csrf = fc.oneof(
  fc.constantFrom('1', ' 1', '1 ', '01', 'true', '', '11', '1, 1', '\u0661'),
  hostileString,
);

interface Headers {
  origin?: string;
  'sec-fetch-site'?: string;
  'x-csrf'?: string;
}

/** Runs the middleware on a fake request with `headers`; the error it passed to next, if any. */
function check(publicOrigin: string, standsIn: boolean, headers: Headers): unknown {
  const req = { get: (name: string) => headers[name.toLowerCase() as keyof Headers] } as Request;
  let passed: unknown = 'next not called';
  requireAntiForgery(publicOrigin, { originStandsIn: standsIn })(
    req,
    {} as Response,
    (err?: unknown) => {
      passed = err;
    },
  );
  return passed;
}

function isForbidden(err: unknown): err is ForbiddenError {
  return err instanceof ForbiddenError && err.status === 403;
}

const scenario = fc.constantFrom(...ORIGINS).chain((publicOrigin) =>
  fc.record({
    publicOrigin: fc.constant(publicOrigin),
    standsIn: fc.boolean(),
    headers: fc.record(
      {
        origin: fc.oneof(
          { arbitrary: fc.constant(publicOrigin), weight: 3 },
          { arbitrary: otherOrigin(publicOrigin), weight: 2 },
        ),
        'sec-fetch-site': fc.oneof(
          { arbitrary: fc.constantFrom('same-origin', 'none'), weight: 3 },
          { arbitrary: site, weight: 1 },
        ),
        'x-csrf': fc.oneof(
          { arbitrary: fc.constant('1'), weight: 3 },
          { arbitrary: csrf, weight: 1 },
        ),
      },
      { requiredKeys: [] },
    ),
  }),
);

describe('requireAntiForgery (property)', () => {
  it('a request passes exactly when Origin is absent or ours, Sec-Fetch-Site is absent, same-origin or none, and X-CSRF is exactly 1 (or, for forms, Origin is ours)', () => {
    fc.assert(
      fc.property(scenario, ({ publicOrigin, standsIn, headers }) => {
        const { origin, 'sec-fetch-site': fetchSite, 'x-csrf': header } = headers;
        const allowed =
          (origin === undefined || origin === publicOrigin) &&
          (fetchSite === undefined || fetchSite === 'same-origin' || fetchSite === 'none') &&
          (header === '1' || (standsIn && origin === publicOrigin));
        const err = check(publicOrigin, standsIn, headers);
        if (allowed) expect(err).toBeUndefined();
        else expect(isForbidden(err)).toBe(true);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('any Origin other than the exact public origin is refused with 403, even with X-CSRF: 1 and Sec-Fetch-Site: same-origin', () => {
    const attack = fc
      .constantFrom(...ORIGINS)
      .chain((publicOrigin) =>
        fc.tuple(fc.constant(publicOrigin), otherOrigin(publicOrigin), fc.boolean()),
      );
    fc.assert(
      fc.property(attack, ([publicOrigin, origin, standsIn]) => {
        const err = check(publicOrigin, standsIn, {
          origin,
          'sec-fetch-site': 'same-origin',
          'x-csrf': '1',
        });
        expect(isForbidden(err)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('a 403 detail never echoes the Origin back: it is the same whatever the foreign Origin', () => {
    const attack = fc
      .constantFrom(...ORIGINS)
      .chain((publicOrigin) => fc.tuple(fc.constant(publicOrigin), otherOrigin(publicOrigin)));
    fc.assert(
      fc.property(attack, ([publicOrigin, origin]) => {
        const detailFor = (o: string): string =>
          (check(publicOrigin, false, { origin: o, 'x-csrf': '1' }) as ForbiddenError).detail;
        expect(detailFor(origin)).toBe(detailFor('https://other.invalid'));
      }),
      { numRuns: RUNS },
    );
  });

  it('a 403 detail never echoes Sec-Fetch-Site back: it is the same whatever the refused value', () => {
    const refusedSite = site.filter((s) => s !== 'same-origin' && s !== 'none');
    fc.assert(
      fc.property(fc.constantFrom(...ORIGINS), refusedSite, (publicOrigin, value) => {
        const detailFor = (v: string): string =>
          (check(publicOrigin, false, { 'sec-fetch-site': v, 'x-csrf': '1' }) as ForbiddenError)
            .detail;
        expect(detailFor(value)).toBe(detailFor('cross-site'));
      }),
      { numRuns: RUNS },
    );
  });
});
