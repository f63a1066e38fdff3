import { useHarness } from '../support/gateway-harness';

/** The CSP directive `name` of an answer, as its list of sources. */
function directive(csp: string | null, name: string): string[] | undefined {
  const found = (csp ?? '').split(';').map((d) => d.trim().split(/\s+/));
  return found.find((d) => d[0] === name)?.slice(1);
}

describe('framing without EMBED_ORIGINS', () => {
  const h = useHarness();

  it("lets only the app frame itself: frame-ancestors 'self' and X-Frame-Options", async () => {
    for (const path of ['/healthz', '/session', '/auth/login']) {
      const res = await h.client().get(path);
      expect(directive(res.headers.get('content-security-policy'), 'frame-ancestors')).toEqual([
        "'self'",
      ]);
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    }
  });
});

describe('framing with EMBED_ORIGINS', () => {
  const h = useHarness({
    env: { EMBED_ORIGINS: 'genesys,https://widgets.example.com', GENESYS_REGION: 'mypurecloud.de' },
  });

  it('lets the named origins frame the app, and sends no X-Frame-Options (it knows no list)', async () => {
    for (const path of ['/healthz', '/session', '/auth/login']) {
      const res = await h.client().get(path);
      expect(directive(res.headers.get('content-security-policy'), 'frame-ancestors')).toEqual([
        "'self'",
        'https://apps.mypurecloud.de',
        'https://widgets.example.com',
      ]);
      expect(res.headers.get('x-frame-options')).toBeNull();
    }
  });
});
