import fs from 'node:fs';
import path from 'node:path';
import { useHarness } from '../support/gateway-harness';
import { useChromium } from '../support/chromium';
import { CLIENT_MODULE_PATH } from '../../server/http/client-module';
import { writeClientPage } from './client-page';

// How the gateway serves the client module, and that a page under the gateway's own CSP can
// import it.
const BUILT = path.resolve(__dirname, '../../dist/client/bff-client.js');
const pages = writeClientPage();
const h = useHarness({ env: { STATIC_DIR: pages } }, { shared: true });

afterAll(() => {
  fs.rmSync(pages, { recursive: true, force: true });
});

declare const window: { bff?: unknown; violations: string[] };
declare const document: {
  addEventListener(type: string, f: (e: { violatedDirective: string }) => void): void;
};

describe(`GET ${CLIENT_MODULE_PATH}`, () => {
  it('is the built module, as JavaScript, cached for a year with a strong ETag', async () => {
    const res = await fetch(`${h.url}${CLIENT_MODULE_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(fs.readFileSync(BUILT, 'utf8'));
  });

  it('answers 304 to a browser that holds the same version', async () => {
    const first = await fetch(`${h.url}${CLIENT_MODULE_PATH}`);
    const etag = first.headers.get('etag') as string;
    const again = await fetch(`${h.url}${CLIENT_MODULE_PATH}`, {
      headers: { 'If-None-Match': etag },
    });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('answers HEAD with the headers and no body; needs no session and sets no cookie', async () => {
    const res = await fetch(`${h.url}${CLIENT_MODULE_PATH}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(fs.statSync(BUILT).size));
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('has no other name: another version or a trailing slash is an unknown route', async () => {
    for (const p of ['/bff/client-v2.js', `${CLIENT_MODULE_PATH}/`, '/bff/']) {
      expect((await fetch(`${h.url}${p}`)).status).toBe(404);
    }
  });
});

describe("a page under the gateway's CSP, in real Chromium", () => {
  const browser = useChromium();
  it('imports the module with no CSP violation', async () => {
    const page = await browser().newPage();
    await page.addInitScript(() => {
      window.violations = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.violations.push(e.violatedDirective),
      );
    });
    const res = await page.goto(`${h.url}/`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForFunction(() => window.bff !== undefined);
    expect(await page.evaluate(() => window.violations)).toEqual([]);
    await page.close();
  });
});
