import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Frame } from 'playwright-core';
import { freePort } from '../support/gateway-harness';
import { launchBlockingThirdPartyCookies, type BlockingProfile } from '../support/chromium';

// `npm run demo -- --embedded` as docs/embedded.md ("Try it locally") tells a new user to run it:
// the Genesys Cloud stand-in on a second local origin frames the demo page, and the login goes
// through the popup, in real Chromium with third-party cookies blocked.
const DEMO = path.resolve(__dirname, '../../dist/scripts/demo.js');
const SCREENSHOTS = path.resolve(__dirname, '../../.ci-out/screenshots');

let demo: ChildProcess;
let profile: BlockingProfile;
let hostUrl: string;
let appUrl: string;
let output = '';

beforeAll(async () => {
  demo = spawn(process.execPath, [DEMO, '--embedded', '--port', String(await freePort())], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  demo.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/The app itself:\s+(\S+)/.test(output)) {
    if (Date.now() > deadline || demo.exitCode !== null) {
      throw new Error(`demo did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  hostUrl = (/Open \(embedded\):\s+(\S+)/.exec(output) as RegExpExecArray)[1] as string;
  appUrl = (/The app itself:\s+(\S+)/.exec(output) as RegExpExecArray)[1] as string;
  profile = await launchBlockingThirdPartyCookies();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
}, 30_000);

afterAll(async () => {
  await profile?.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGTERM');
    await exited;
  }
});

describe('npm run demo -- --embedded in a real browser', () => {
  it('prints the stand-in on localhost, another site than the app on 127.0.0.1', () => {
    expect(hostUrl).toMatch(/^http:\/\/localhost:\d+\/$/);
    expect(appUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('logs in inside the frame through the popup, and shows the Genesys context', async () => {
    const page = await profile.context.newPage();
    await page.setViewportSize({ width: 1100, height: 1000 });
    await page.goto(hostUrl);
    const frame = await (await page.waitForSelector('#app')).contentFrame();
    if (frame === null) throw new Error('no app frame');
    await frame.waitForSelector('#embedded:not([hidden])');
    const context = JSON.parse((await frame.textContent('#context')) ?? '{}') as unknown;
    expect(context).toEqual({
      gcHostOrigin: hostUrl.replace(/\/$/, ''),
      gcTargetEnv: 'demo',
      gcLangTag: 'en-us',
    });
    await frame.waitForSelector('#who:has-text("Not logged in")');

    const opened = profile.context.waitForEvent('page');
    await frame.click('#login');
    const popup = await opened;
    // Listened for before the click: the popup may close before the click has settled.
    const closed = popup.waitForEvent('close', { timeout: 20_000 });
    await popup.click('text=Sign in as Ada Admin');
    await closed;
    await frame.waitForSelector('#who:has-text("Logged in as Ada Admin")');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'demo-embedded.png'), fullPage: true });

    // The same app opened on its own (top level) is another partition: not logged in there.
    const top = await profile.context.newPage();
    await top.goto(appUrl);
    await top.waitForSelector('#who:has-text("Not logged in")');
    expect(await top.isHidden('#embedded')).toBe(true);
    await top.close();

    await logOut(frame);
    await page.close();
  }, 60_000);
});

/**
 * The demo's HTML form logout, posted from inside the frame: the browser's own Origin stands in
 * for X-CSRF. Submitted with the keyboard, as a user can: in this frame Playwright's mouse click
 * on the submit button does not submit (a synthetic click or Enter does).
 */
async function logOut(frame: Frame): Promise<void> {
  const answered = frame.page().waitForResponse((r) => r.url().endsWith('/auth/logout'));
  await frame.focus('#logout-form');
  await frame.page().keyboard.press('Enter');
  expect((await answered).status()).toBe(303);
  await frame.waitForSelector('#who:has-text("Not logged in")');
}
