import path from 'node:path';
import type { Page } from 'playwright-core';
import { startHarness, useHarness } from '../support/gateway-harness';
import { useChromium } from '../support/chromium';

// The Origin of a form post is the browser's to decide (with no-referrer it is `null`): only a
// real browser shows whether the gateway's own headers let its own logout form through.
const DEMO_PAGES = path.resolve(__dirname, '../../demo/public');

const browser = useChromium();
const h = useHarness({ env: { STATIC_DIR: DEMO_PAGES } });

async function logIn(page: Page): Promise<void> {
  await page.goto(`${h.url}/`);
  await page.click('#login');
  await page.click('text=Sign in as Ada Admin');
  await page.waitForURL(`${h.url}/`);
  expect(await h.store.countSessions()).toBe(1);
}

describe('the HTML logout form in real Chromium', () => {
  it('logs out: 303 back to the app, the session record and cookie gone', async () => {
    const page = await browser().newPage();
    await logIn(page);
    const posted = page.waitForRequest((r) => r.url() === `${h.url}/auth/logout`);
    const answered = page.waitForResponse((r) => r.url() === `${h.url}/auth/logout`);
    await page.click('#logout-form');
    const request = await posted;
    const response = await answered;

    // Chromium's own Origin, not one a test set: it must be the page's origin, not `null`.
    expect(await request.headerValue('origin')).toBe(h.url);
    expect(response.status()).toBe(303);
    await page.waitForURL(`${h.url}/`);
    expect(await h.store.countSessions()).toBe(0);
    expect((await page.context().cookies()).map((c) => c.name)).not.toContain('bff.sid');
    await page.close();
  }, 30_000);

  it("keeps the gateway's pages from sending their address to other sites", async () => {
    const page = await browser().newPage();
    const res = await page.goto(`${h.url}/`);
    expect(res?.headers()['referrer-policy']).toBe('same-origin');
    await page.close();
  });

  it('still refuses a logout form posted from another site', async () => {
    // Another origin (another port is another origin) hosts a form aimed at the gateway.
    const attacker = await startHarness();
    try {
      const page = await browser().newPage();
      await logIn(page);
      await page.route(`${attacker.url}/evil`, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<form method="post" action="${h.url}/auth/logout"><button id="go">go</button></form>`,
        }),
      );
      await page.goto(`${attacker.url}/evil`);
      const answered = page.waitForResponse((r) => r.url() === `${h.url}/auth/logout`);
      await page.click('#go');
      expect((await answered).status()).toBe(403);
      expect(await h.store.countSessions()).toBe(1);
      await page.close();
    } finally {
      await attacker.close();
    }
  }, 30_000);
});

describe('the HTML logout form with IDP_LOGOUT=true in real Chromium', () => {
  const idp = useHarness({ env: { STATIC_DIR: DEMO_PAGES, IDP_LOGOUT: 'true' } });

  it("follows the 303 to Genesys's logout page: the CSP's form-action allows it", async () => {
    const page = await browser().newPage();
    const blocked: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
    });
    await page.goto(`${idp.url}/`);
    await page.click('#login');
    await page.click('text=Sign in as Ada Admin');
    await page.waitForURL(`${idp.url}/`);
    const atGenesys = page.waitForRequest((r) => r.url().startsWith(`${idp.emulator.url}/logout`));
    await page.click('#logout-form');
    // Chromium went on to the Genesys logout page: form-action did not stop the redirect.
    await atGenesys;
    expect(blocked).toEqual([]);
    expect(await idp.store.countSessions()).toBe(0);
    await page.close();
  }, 30_000);
});
