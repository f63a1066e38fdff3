import express from 'express';
import helmet from 'helmet';
import request from 'supertest';
import { securityHeaders } from '../server/http/security-headers';

/** The headers an app answers with, minus those that change per response. */
async function headersOf(app: express.Express): Promise<Record<string, unknown>> {
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  const res = await request(app).get('/');
  const headers = { ...(res.headers as Record<string, unknown>) };
  delete headers.date;
  delete headers.etag;
  return headers;
}

describe('securityHeaders', () => {
  it.each([
    ['the defaults', {}],
    [
      'a referrer policy and a CSP directive of our own',
      {
        referrerPolicy: { policy: 'same-origin' as const },
        contentSecurityPolicy: {
          directives: { 'frame-ancestors': ["'self'", 'https://apps.example.com'] },
        },
      },
    ],
    [
      'a header turned off',
      { xFrameOptions: false as const, strictTransportSecurity: false as const },
    ],
  ])('answers exactly what helmet does, with %s', async (_name, options) => {
    const viaHelmet = express();
    viaHelmet.use(helmet(options));
    const replayed = express();
    replayed.use(securityHeaders(options));
    const expected = await headersOf(viaHelmet);
    expect(await headersOf(replayed)).toEqual(expected);
    expect(expected['content-security-policy']).toEqual(expect.any(String));
  });

  it('removes X-Powered-By as helmet does', async () => {
    const app = express();
    app.use(securityHeaders());
    expect(await headersOf(app)).not.toHaveProperty('x-powered-by');
  });

  it('refuses a request-dependent directive rather than replay a stale value', () => {
    expect(() =>
      securityHeaders({
        contentSecurityPolicy: {
          directives: { 'script-src': ["'self'", (_req, res) => `'nonce-${res.statusCode}'`] },
        },
      }),
    ).toThrow(/depends on the request/);
  });
});
