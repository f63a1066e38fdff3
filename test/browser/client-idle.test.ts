import fs from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { useHarness } from '../support/gateway-harness';
import { useChromium } from '../support/chromium';
import { ADMIN_USER } from '../../emulator/genesys-emulator';
import {
  logInThroughPage,
  openClientPage,
  seenBy,
  waitForOneOpenStream,
  waitForSeen,
  writeClientPage,
} from './client-page';

// docs/frontend.md#idle-aware-polling, in a real browser on the emulator's clock (the gateway's
// clock in the harness): a page that polls with preserveIdleTTL=true lets an idle user go, with
// a warning first; a page that calls HEAD /session keeps its user in.
const IDLE_S = 600;
const WARNING_S = 120;
const pages = writeClientPage();
const h = useHarness({
  env: {
    STATIC_DIR: pages,
    SESSION_IDLE_TIMEOUT_SECONDS: String(IDLE_S),
    SESSION_WARNING_SECONDS: String(WARNING_S),
  },
});
const browser = useChromium();
let context: BrowserContext;

declare const window: {
  bff: { verify(o?: { preserveIdleTTL?: boolean }): Promise<boolean> };
  setInterval(f: () => void, ms: number): number;
};

afterAll(async () => {
  fs.rmSync(pages, { recursive: true, force: true });
});

beforeEach(async () => {
  context = await browser().newContext();
});

afterEach(async () => {
  await context.close();
});

async function loggedInPage(): Promise<Page> {
  const page = await context.newPage();
  await logInThroughPage(page, h.url, ADMIN_USER);
  await waitForOneOpenStream([page]);
  return page;
}

describe('idle-aware polling in real Chromium, on the emulator clock', () => {
  // express-session dates the session's expiry with Date.now(): keep it on the emulator clock
  // (as test/gateway/session-idle-roll.test.ts does), and real again before the harness closes.
  beforeEach(() => {
    const emulator = h.emulator;
    jest.spyOn(Date, 'now').mockImplementation(() => emulator.now());
  });
  afterEach(() => jest.restoreAllMocks());

  it('a page polling with preserveIdleTTL=true is warned, then ended, when its user is idle', async () => {
    const page = await loggedInPage();
    // A second tab: it hears the warning and the end through the first one's stream.
    const other = await openClientPage(context, h.url);
    const loggedInAt = h.emulator.now();
    await page.evaluate(() => {
      window.setInterval(() => void window.bff.verify({ preserveIdleTTL: true }), 200);
    });

    h.emulator.advance((IDLE_S - WARNING_S + 5) * 1000);
    const [expiring] = await waitForSeen(page, 'expiring');
    expect(expiring?.data.kind).toBe('idle');
    const deadline = Date.parse(String(expiring?.data.expiresAt));
    expect(Math.abs(deadline - (loggedInAt + IDLE_S * 1000))).toBeLessThan(5000);
    expect(await seenBy(page, 'ended')).toEqual([]);
    expect((await waitForSeen(other, 'expiring'))[0]?.data).toEqual(expiring?.data);

    h.emulator.advance(WARNING_S * 1000);
    const [ended] = await waitForSeen(page, 'ended');
    // The gateway's event or the next poll's 401, whichever comes first.
    expect(['expired', 'unauthenticated']).toContain(ended?.data.reason);
    expect((await waitForSeen(other, 'ended'))[0]?.data).toEqual(ended?.data);
    expect(await h.store.countSessions()).toBe(0);
  }, 30_000);

  it('a page that calls HEAD /session keeps its user logged in past the idle timeout', async () => {
    const page = await loggedInPage();
    // Ten steps of 100 s (each more than the tenth of the idle timeout that a roll needs), a
    // verify after each: 1,000 s in all, well past the 600 s idle timeout.
    for (let i = 0; i < 10; i += 1) {
      h.emulator.advance(100_000);
      expect(await page.evaluate(() => window.bff.verify())).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(await seenBy(page, 'ended')).toEqual([]);
    expect(await seenBy(page, 'expiring')).toEqual([]);
    expect(await h.store.countSessions()).toBe(1);
  }, 30_000);
});
