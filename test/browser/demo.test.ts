import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { freePort } from '../support/gateway-harness';
import { launchChromium } from '../support/chromium';

// `npm run demo` as a new user meets it: the built demo script, a real Chromium, the emulator's
// login page, in a real Chromium.
const DEMO = path.resolve(__dirname, '../../dist/scripts/demo.js');

// The few DOM names used inside page.evaluate callbacks (the tsconfig has no DOM lib: server code).
declare const document: {
  cookie: string;
  getElementById(id: string): { textContent: string | null } | null;
};

let demo: ChildProcess;
let browser: Browser;
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
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGTERM');
    await exited;
  }
});

async function press(page: Page, id: string, expected: string): Promise<string> {
  await page.click(`#${id}`);
  await page.waitForFunction(
    (text) => document.getElementById('status')?.textContent?.includes(text) ?? false,
    expected,
  );
  return (await page.textContent('#output')) ?? '';
}

describe('npm run demo in a real browser', () => {
  it('prints the URL to open, on loopback', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('logs in through the emulator page, shows and verifies the session, then logs out', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    expect(await press(page, 'show', 'GET /session → 401')).toContain('"status": 401');

    await page.click('#login');
    await page.waitForSelector('text=Sign in as Ada Admin');
    await page.click('text=Sign in as Ada Admin');
    await page.waitForURL(url);

    const info = await press(page, 'show', 'GET /session → 200');
    expect(JSON.parse(info)).toHaveProperty('organization.name');
    expect(info).not.toMatch(/access_token|refresh_token|Bearer/);
    await press(page, 'verify', 'HEAD /session → 200');
    await press(page, 'verify-preserve', 'HEAD /session?preserveIdleTTL=true → 200');
    expect(
      JSON.parse(await press(page, 'timeout', 'GET /admin/tokens/timeout → 200')),
    ).toHaveProperty('enableIdleTokenTimeout');
    // The session cookie is HttpOnly: the page's script cannot see it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await page.screenshot({ path: path.join(os.tmpdir(), 'tokens-bff-demo.png') });

    await press(page, 'logout', 'DELETE /session → 204');
    await press(page, 'show', 'GET /session → 401');
    await page.close();
  }, 30_000);
});
