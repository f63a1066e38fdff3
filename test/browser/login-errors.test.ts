import path from 'node:path';
import type { Page, Response } from 'playwright-core';
import { useHarness } from '../support/gateway-harness';
import { useChromium } from '../support/chromium';

// Whether a failed login is a page or problem+json depends on the headers a browser sends with a
// navigation (Sec-Fetch-Mode, Accept), and the localhost-for-127.0.0.1 mix-up on which name the
// browser keeps cookies under: only a real browser decides either.
const DEMO_PAGES = path.resolve(__dirname, '../../demo/public');

const browser = useChromium();

/** The first answer of a navigation that may have been redirected. */
async function firstHopOf(
  res: Response,
): Promise<{ url: string; status: number; location: string }> {
  let request = res.request();
  while (request.redirectedFrom()) request = request.redirectedFrom() ?? request;
  const first = await request.response();
  return {
    url: request.url(),
    status: first?.status() ?? 0,
    location: (await first?.headerValue('location')) ?? '',
  };
}

describe('login failures in real Chromium', () => {
  const h = useHarness({ env: { STATIC_DIR: DEMO_PAGES } });
  let page: Page;

  beforeEach(async () => {
    page = await browser().newPage();
  });

  afterEach(async () => {
    await page.close();
  });

  it('a callback with a stale state shows a page naming the likely cause; its link logs in', async () => {
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
    });
    const res = await page.goto(`${h.url}/auth/callback?state=stale-state&code=x`);
    // Chromium's own navigation headers, not ones a test chose.
    expect(await res?.request().headerValue('sec-fetch-mode')).toBe('navigate');
    expect(res?.status()).toBe(400);
    expect(res?.headers()['content-type']).toBe('text/html; charset=utf-8');
    expect(await page.textContent('h1')).toBe('The login did not finish');
    const port = new URL(h.url).port;
    expect(await page.textContent('#detail')).toContain(
      `Most likely the login was started at another address of this server (such as http://localhost:${port})`,
    );
    expect(await page.textContent('#request-id')).toBe(res?.headers()['x-request-id']);
    // The page keeps to the gateway's CSP: Chromium reported no violation.
    expect(refused).toEqual([]);

    await page.click('#again');
    await page.click('text=Sign in as Ada Admin');
    await page.waitForURL(`${h.url}/`);
    expect(await h.store.countSessions()).toBe(1);
  }, 30_000);

  it('a denied login shows a 403 page saying so, whose link starts that login again', async () => {
    await page.goto(`${h.url}/auth/login?returnTo=${encodeURIComponent('/index.html')}`);
    const answered = page.waitForResponse((r) => r.url().startsWith(`${h.url}/auth/callback`));
    await page.click('#deny');
    const res = await answered;
    expect(res.status()).toBe(403);
    expect(res.headers()['content-type']).toBe('text/html; charset=utf-8');
    await page.waitForSelector('#detail');
    expect(await page.textContent('#detail')).toContain('access_denied. The sign-in was cancelled');
    expect(await page.getAttribute('#again', 'href')).toBe('/auth/login?returnTo=%2Findex.html');

    await page.click('#again');
    await page.click('text=Sign in as Ada Admin');
    await page.waitForURL(`${h.url}/index.html`);
    expect(await h.store.countSessions()).toBe(1);
  }, 30_000);

  it('a login started at localhost while PUBLIC_BASE_URL is 127.0.0.1 moves there and finishes', async () => {
    const port = new URL(h.url).port;
    const res = await page.goto(`http://localhost:${port}/auth/login`);
    const callback = page.waitForResponse((r) => r.url().startsWith(`${h.url}/auth/callback`));
    await page.click('text=Sign in as Ada Admin');
    // Genesys sends the browser back to PUBLIC_BASE_URL: its login cookies must be there.
    expect((await callback).status()).toBe(302);
    await page.waitForURL(`${h.url}/`);
    expect(await h.store.countSessions()).toBe(1);
    // The gateway sent the browser to its public name before it set any login cookie.
    expect(await firstHopOf(res as Response)).toEqual({
      url: `http://localhost:${port}/auth/login`,
      status: 302,
      location: `${h.url}/auth/login`,
    });
    const cookies = await page.context().cookies();
    expect(cookies.filter((c) => c.domain === 'localhost')).toEqual([]);
  }, 30_000);
});
