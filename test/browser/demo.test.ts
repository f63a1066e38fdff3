import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { freePort } from '../support/gateway-harness';
import { useChromium } from '../support/chromium';

// `npm run demo` as a new user meets it: the built demo script, the emulator's login page, the
// showcase page on the client module, in a real Chromium.
const DEMO = path.resolve(__dirname, '../../dist/scripts/demo.js');
/** Where the screenshots go: CI's artifacts folder (.ci/run keeps .ci-out/). */
const SCREENSHOTS = path.resolve(__dirname, '../../.ci-out/screenshots');

// The few DOM names used inside page.evaluate callbacks (the test project has no DOM lib).
declare const document: {
  cookie: string;
  querySelector(selector: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): { length: number };
};

let demo: ChildProcess;
const browser = useChromium();
let url: string;
let output = '';

beforeAll(async () => {
  const port = await freePort();
  demo = spawn(process.execPath, [DEMO, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  demo.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/Open:\s+(\S+)/.test(output)) {
    if (Date.now() > deadline || demo.exitCode !== null)
      throw new Error(`demo did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  url = (/Open:\s+(\S+)/.exec(output) as RegExpExecArray)[1] as string;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
}, 30_000);

afterAll(async () => {
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGTERM');
    await exited;
  }
});

async function logIn(page: Page, user: string): Promise<void> {
  await page.goto(url);
  await page.click('#login');
  await page.click(`text=Sign in as ${user}`);
  await page.waitForURL(url);
  await page.waitForSelector(`#who:has-text("Logged in as ${user}")`);
}

/** Presses a control and waits for "Last request" to show its answer. */
async function press(page: Page, selector: string, answered: string): Promise<string> {
  await page.click(selector);
  await page.waitForSelector(`#status:has-text("${answered}")`);
  return (await page.textContent('#output')) ?? '';
}

function screenshot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: path.join(SCREENSHOTS, `demo-${name}.png`), fullPage: true });
}

describe('npm run demo in a real browser', () => {
  let context: BrowserContext;
  beforeEach(async () => {
    context = await browser().newContext({ viewport: { width: 1100, height: 900 } });
  });
  afterEach(async () => {
    await context.close();
  });

  it('prints the URL to open, on loopback', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('shows who is logged in and counts down to each deadline, with no token in sight', async () => {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForSelector('#who:has-text("Not logged in")');
    await logIn(page, 'Ada Admin');
    expect(await page.textContent('#who')).toContain('f8a3c6e2-1d4b-4c7a-9e2f-0b5d8a7c6e41');
    const first = await page.textContent('[data-deadline="session.expiresAt"]');
    expect(first).toMatch(/^in \d+m \d+s/);
    await page.waitForFunction(
      (before) =>
        document.querySelector('[data-deadline="session.expiresAt"]')?.textContent !== before,
      first,
    );
    expect(await page.textContent('[data-deadline="token.idlesAt"]')).toBe('not reported');

    const info = await press(page, '#token-info', 'GET /session?preserveIdleTTL=true → 200');
    expect(JSON.parse(info)).toHaveProperty('organization.name');
    expect(info).not.toMatch(/access_token|refresh_token|Bearer/);
    await press(page, '#keep-alive', 'HEAD /session → 200');
    await press(page, '#verify-preserve', 'HEAD /session?preserveIdleTTL=true → 200');
    // The session cookie is HttpOnly: the page's script cannot see it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await screenshot(page, 'logged-in');
  }, 30_000);

  it('a logout in one tab shows up as `ended` in the other at once', async () => {
    const first = await context.newPage();
    await logIn(first, 'Ada Admin');
    const second = await context.newPage();
    await second.goto(url);
    await second.waitForSelector('#who:has-text("Logged in as Ada Admin")');
    await first.waitForSelector('#stream-status:has-text("open")');

    const started = Date.now();
    await second.click('#logout');
    await first.waitForSelector('#events [data-event="ended"]:has-text("reason: logout")', {
      timeout: 2000,
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await first.textContent('#who')).toContain('Not logged in');
    await screenshot(first, 'ended-in-other-tab');
  }, 30_000);

  it('lists my sessions and ends another one with its End button', async () => {
    const elsewhere = await browser().newContext();
    try {
      const page = await context.newPage();
      await logIn(page, 'Ada Admin');
      // Sessions earlier tests left behind go first.
      await press(page, '#end-others', 'DELETE /session/others → 204');
      await logIn(await elsewhere.newPage(), 'Ada Admin');
      await press(page, '#list-sessions', 'GET /session/all → 200');
      expect(await page.locator('#sessions tbody tr').count()).toBe(2);
      await page.click('#sessions tbody tr:not(:has-text("this browser")) .end-session');
      await page.waitForFunction(
        () => document.querySelectorAll('#sessions tbody tr').length === 1,
      );
      expect(await page.textContent('#sessions tbody')).toContain('this browser');
      await screenshot(page, 'my-sessions');
    } finally {
      await elsewhere.close();
    }
  }, 30_000);

  it('admin panel: reads the timeout, shows the validation errors, changes it', async () => {
    const page = await context.newPage();
    await logIn(page, 'Ada Admin');
    await press(page, '#read-timeout', 'GET /admin/tokens/timeout → 200');
    expect(await page.inputValue('#timeout-seconds')).toMatch(/^\d+$/);

    await page.fill('#timeout-seconds', '100');
    await press(page, '#save-timeout', 'PUT /admin/tokens/timeout → 400');
    expect(await page.textContent('#timeout-errors')).toContain(
      'idleTokenTimeoutSeconds: must be an integer between 300 and 28800',
    );
    await screenshot(page, 'admin-validation');

    await page.fill('#timeout-seconds', '1200');
    const saved = await press(page, '#save-timeout', 'PUT /admin/tokens/timeout → 200');
    expect(JSON.parse(saved)).toMatchObject({ idleTokenTimeoutSeconds: 1200 });
    expect(await page.textContent('#timeout-errors')).toBe('');
  }, 30_000);

  it("admin panel: revokes a user picked from the emulator's users, ending their sessions", async () => {
    const agent = await browser().newContext();
    try {
      const agentPage = await agent.newPage();
      await logIn(agentPage, 'Alan Agent');
      const page = await context.newPage();
      await logIn(page, 'Ada Admin');
      await page.selectOption('#revoke-user', { label: 'Alan Agent (no admin permissions)' });
      expect(await page.inputValue('#revoke-user-id')).toBe('3b9e7d10-6a2c-4f85-b1d3-9c8e2a4f7b52');
      await press(page, '#revoke', '/tokens → 204');
      expect(await page.textContent('#admin-result')).toContain('Revoked every token');
      // The agent's page hears it on its own stream.
      await agentPage.waitForSelector('#events [data-event="ended"]:has-text("reason: revoked")', {
        timeout: 2000,
      });
      await screenshot(page, 'admin-revoke');
    } finally {
      await agent.close();
    }
  }, 30_000);

  it('a user without the admin permissions may read the timeout but not change it', async () => {
    const page = await context.newPage();
    await logIn(page, 'Alan Agent');
    await press(page, '#read-timeout', 'GET /admin/tokens/timeout → 200');
    await press(page, '#save-timeout', 'PUT /admin/tokens/timeout → 403');
    expect(await page.textContent('#timeout-errors')).not.toBe('');
    await page.selectOption('#revoke-user', { label: 'Ada Admin (admin)' });
    await press(page, '#revoke', '/tokens → 403');
    expect(await page.textContent('#admin-result')).toContain('Refused (403)');
  }, 30_000);
});
