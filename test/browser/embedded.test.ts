import fs from 'node:fs';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import { useHarness } from '../support/gateway-harness';
import { launchBlockingThirdPartyCookies, type BlockingProfile } from '../support/chromium';
import { startParentSite, writeEmbeddedApp, type ParentSite } from './embed-pages';

// The app embedded as Genesys Cloud embeds a client app (docs/embedded.md), in real Chromium with
// third-party cookies blocked: the browser decides what a frame on another site may store and
// send, whether the popup keeps its opener, and who may frame the page (CSP frame-ancestors).
// The gateway is http://127.0.0.1; `localhost` and `127.0.0.2` are other sites, so each is a
// cookie partition of its own.

declare const window: {
  bff?: { logout(): Promise<void> };
  result?: Promise<string>;
  codes: string[];
  context: Record<string, string>;
};
declare const document: { cookie: string };
declare const localStorage: {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
};

const env: Record<string, string> = {};
const app = writeEmbeddedApp();
let profile: BlockingProfile;
let context: BrowserContext;
let allowed: ParentSite;
let other: ParentSite;
let foreign: ParentSite;

beforeAll(async () => {
  allowed = await startParentSite('localhost');
  other = await startParentSite('127.0.0.2');
  // Same site as `allowed` (another port), not in EMBED_ORIGINS: frame-ancestors is per origin.
  foreign = await startParentSite('localhost');
  Object.assign(env, {
    STATIC_DIR: app,
    EMBED_ORIGINS: `${allowed.origin},${other.origin}`,
    // The logout form ends at the Genesys logout page, except in a frame (it refuses frames).
    IDP_LOGOUT: 'true',
  });
  profile = await launchBlockingThirdPartyCookies();
  context = profile.context;
}, 30_000);

// Registered after the hook above, so the harness starts with the parents' origins in `env`.
const h = useHarness({ env }, { shared: true });

afterAll(async () => {
  await profile?.close();
  await Promise.all([allowed, other, foreign].map((p) => p?.close()));
  fs.rmSync(app, { recursive: true, force: true });
});

/** Opens `parent`'s page framing the app, with the query Genesys Cloud would add. */
async function openFramed(parent: ParentSite): Promise<{ page: Page; frame: Frame }> {
  const page = await context.newPage();
  const appUrl = `${h.url}/?gcHostOrigin=${encodeURIComponent(parent.origin)}&gcTargetEnv=prod-test`;
  await page.goto(parent.pageFor(appUrl));
  const frame = page.frames().find((f) => f.url().startsWith(h.url));
  if (frame === undefined) throw new Error(`no frame of ${h.url} in ${parent.origin}`);
  await frame.waitForFunction(() => window.bff !== undefined);
  return { page, frame };
}

/** The frame's own fetch of `path` with X-CSRF (as the client module sends it): its status. */
function statusFrom(frame: Frame | Page, path: string, init: Record<string, unknown> = {}) {
  return frame.evaluate(
    async ({ path, init }) => {
      const res = await fetch(path, {
        ...init,
        headers: { 'X-CSRF': '1', 'Content-Type': 'application/json' },
      });
      return res.status;
    },
    { path, init },
  );
}

/** Clicks `button` in the frame and signs in as Ada Admin in the popup it opens; waits for it to close. */
async function signInThroughPopup(frame: Frame, button: '#login' | '#raw-login'): Promise<void> {
  const opened = context.waitForEvent('page');
  await frame.click(button);
  const popup = await opened;
  // Listened for before the click: the popup can post its code and close while the click that
  // led there is still settling, and a close event that came first is never heard.
  const closed = popup.waitForEvent('close', { timeout: 20_000 });
  await popup.click('text=Sign in as Ada Admin');
  try {
    await closed;
  } catch (err) {
    // What the popup shows instead says why: an error page, the no-opener message, ...
    const shown = await popup.textContent('body').catch(() => '(gone)');
    throw new Error(`the popup did not close: ${popup.url()} shows ${shown}`, { cause: err });
  }
}

describe('embedded in another site, third-party cookies blocked (real Chromium)', () => {
  it('has the block in force: a frame keeps only partitioned cookies and partitioned storage', async () => {
    const top = await context.newPage();
    await top.goto(`${h.url}/`);
    await top.evaluate(() => localStorage.setItem('where', 'top-level'));
    const { page, frame } = await openFramed(allowed);
    const seen = await frame.evaluate(() => {
      document.cookie = 'unpartitioned=1; SameSite=None; Secure; Path=/';
      document.cookie = 'partitioned=1; SameSite=None; Secure; Path=/; Partitioned';
      return { cookies: document.cookie, stored: localStorage.getItem('where') };
    });
    expect(seen.cookies).toContain('partitioned=1');
    expect(seen.cookies).not.toContain('unpartitioned=1');
    // Storage too is the frame's own, not the top-level origin's.
    expect(seen.stored).toBeNull();
    await page.close();
    await top.close();
  });

  it('logs in through the popup; the session cookie is partitioned, absent at top level', async () => {
    const { page, frame } = await openFramed(allowed);
    expect(await statusFrom(frame, '/session')).toBe(401);
    await signInThroughPopup(frame, '#login');
    expect(await frame.evaluate(() => window.result)).toBe('ok');
    expect(await statusFrom(frame, '/session')).toBe(200);

    const cookies = await context.cookies(h.url);
    const session = cookies.filter((c) => c.name === '__Host-Http-session');
    expect(session).toHaveLength(1);
    expect(session[0]).toMatchObject({ secure: true, httpOnly: true, sameSite: 'None' });
    expect((session[0] as { partitionKey?: string }).partitionKey).toBe('http://localhost');

    // A top-level visit to the gateway's origin is another partition: no session there.
    const top = await context.newPage();
    await top.goto(`${h.url}/`);
    expect(await statusFrom(top, '/session')).toBe(401);
    await top.close();
    await page.close();
  }, 45_000);

  it('passes the Genesys context through to the app, untrusted', async () => {
    const { page, frame } = await openFramed(allowed);
    expect(await frame.evaluate(() => window.context)).toEqual({
      gcHostOrigin: allowed.origin,
      gcTargetEnv: 'prod-test',
    });
    await page.close();
  });

  it('is refused by the browser under an origin not in EMBED_ORIGINS, whatever gcHostOrigin says', async () => {
    const page = await context.newPage();
    const refusals: string[] = [];
    page.on('console', (m) => {
      if (/frame-ancestors/.test(m.text())) refusals.push(m.text());
    });
    // The query claims an allowed host: it is not what decides.
    const appUrl = `${h.url}/?gcHostOrigin=${encodeURIComponent(allowed.origin)}`;
    await page.goto(foreign.pageFor(appUrl));
    await page.waitForTimeout(500);
    const child = page.frames().find((f) => f !== page.mainFrame());
    expect(child).toBeDefined();
    expect(child?.url()).not.toContain(`${h.url}/`);
    // Chromium's own report of the refusal, naming the directive that refused it.
    expect(refusals.join('\n')).toMatch(
      /violates the following Content Security Policy directive: "frame-ancestors 'self' http:\/\/localhost:\d+ http:\/\/127\.0\.0\.2:\d+"\. The request has been blocked/,
    );
    await page.close();
  });

  it('refuses a replayed code: the one the login above handed over', async () => {
    const { page, frame } = await openFramed(allowed);
    await signInThroughPopup(frame, '#raw-login');
    const [code] = await frame.evaluate(() => window.codes);
    const body = JSON.stringify({ code });
    expect(await statusFrom(frame, '/auth/handoff', { method: 'POST', body })).toBe(204);
    expect(await statusFrom(frame, '/auth/handoff', { method: 'POST', body })).toBe(400);
    await page.close();
  }, 45_000);

  it('refuses a code in another partition, with or without a binding of its own; the frame it is for still takes it', async () => {
    const a = await openFramed(allowed);
    await signInThroughPopup(a.frame, '#raw-login');
    const [code] = await a.frame.evaluate(() => window.codes);
    const body = JSON.stringify({ code });

    const b = await openFramed(other);
    // No binding cookie in this partition yet.
    expect(await statusFrom(b.frame, '/auth/handoff', { method: 'POST', body })).toBe(400);
    // A binding of its own (another partition's) is not the one the code is bound to.
    expect(await statusFrom(b.frame, '/auth/popup', { method: 'POST' })).toBe(200);
    expect(await statusFrom(b.frame, '/auth/handoff', { method: 'POST', body })).toBe(400);
    expect(await statusFrom(b.frame, '/session')).toBe(401);

    expect(await statusFrom(a.frame, '/auth/handoff', { method: 'POST', body })).toBe(204);
    expect(await statusFrom(a.frame, '/session')).toBe(200);
    await a.page.close();
    await b.page.close();
  }, 45_000);

  it('rejects bff.login() when the browser blocks the popup (no click to open it)', async () => {
    const { page, frame } = await openFramed(allowed);
    const pages = context.pages().length;
    // Playwright's evaluate counts as a user gesture, which lasts 5 s in Chromium: the login
    // starts after it has lapsed, as from a timer or a message would.
    const result = await frame.evaluate(
      () =>
        new Promise<string>((resolve) =>
          setTimeout(() => {
            (window.bff as unknown as { login(): Promise<void> }).login().then(
              () => resolve('ok'),
              (err: Error) => resolve(`error: ${err.message}`),
            );
          }, 5_500),
        ),
    );
    expect(result).toMatch(/^error: The browser blocked the login window/);
    expect(context.pages()).toHaveLength(pages);
    await page.close();
  }, 30_000);

  it('says so in a login window that has no app to return to, and hands nothing over', async () => {
    const { page, frame } = await openFramed(allowed);
    const loginUrl = await frame.evaluate(async () => {
      const res = await fetch('/auth/popup', { method: 'POST', headers: { 'X-CSRF': '1' } });
      return ((await res.json()) as { loginUrl: string }).loginUrl;
    });
    // Opened by hand (a pasted link): a top-level window with no opener.
    const orphan = await context.newPage();
    await orphan.goto(loginUrl);
    await orphan.click('text=Sign in as Ada Admin');
    await orphan.waitForSelector('#status:has-text("This window has no app to return to")');
    expect(orphan.isClosed()).toBe(false);
    expect(await frame.evaluate(() => window.codes)).toEqual([]);
    await orphan.close();
    await page.close();
  }, 45_000);

  it('logs the frame out with the HTML form, back to the app rather than to the Genesys logout page', async () => {
    const { page, frame } = await openFramed(allowed);
    await signInThroughPopup(frame, '#login');
    expect(await frame.evaluate(() => window.result)).toBe('ok');
    const answered = page.waitForResponse((r) => r.url() === `${h.url}/auth/logout`);
    // Enter, not a mouse click: Playwright's click on a submit button in this frame does not submit.
    await frame.focus('#logout-form');
    await page.keyboard.press('Enter');
    const res = await answered;
    expect(res.status()).toBe(303);
    expect(await res.headerValue('location')).toBe('/');
    await frame.waitForURL(`${h.url}/`);
    expect(await statusFrom(frame, '/session')).toBe(401);
    await page.close();

    // The same form on a page of its own still ends at Genesys.
    const top = await context.newPage();
    await top.goto(`${h.url}/`);
    const own = top.waitForResponse((r) => r.url() === `${h.url}/auth/logout`);
    await top.click('#logout-form');
    expect(await (await own).headerValue('location')).toMatch(
      new RegExp(`^${h.emulator.url}/logout\\?`),
    );
    await top.close();
  }, 45_000);

  it('logs the frame out as everywhere else', async () => {
    const { page, frame } = await openFramed(allowed);
    await signInThroughPopup(frame, '#login');
    expect(await frame.evaluate(() => window.result)).toBe('ok');
    expect(await statusFrom(frame, '/session')).toBe(200);
    await frame.evaluate(() => window.bff?.logout());
    expect(await statusFrom(frame, '/session')).toBe(401);
    const left = (await context.cookies(h.url)).filter((c) => c.name === '__Host-Http-session');
    expect(left).toEqual([]);
    await page.close();
  }, 45_000);
});
