import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Debian's Chromium (.ci/run installs it); never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** A headless Chromium as the tests drive it, with extra command-line switches when given. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium).`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      ...extraArgs,
    ],
  });
}

/**
 * Playwright's own `--disable-features` list, but for ThirdPartyStoragePartitioning: Playwright
 * turns that off (microsoft/playwright#32230), and then a third-party frame with third-party
 * cookies blocked gets no storage at all, where Chrome gives it partitioned storage. Chromium
 * takes the last `--disable-features` it is given, so this one replaces Playwright's.
 */
const DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'AvoidCorsURLLoaderRestartOnRedirect',
].join(',');

/** A Chromium profile as a user who blocks third-party cookies has it, and what it holds. */
export interface BlockingProfile {
  readonly context: BrowserContext;
  /** Closes the browser and removes its profile folder. */
  close(): Promise<void>;
}

/**
 * Headless Chromium with third-party cookies blocked, the way a user sets it (Settings → Privacy
 * → Third-party cookies → Block; the profile preference `profile.cookie_controls_mode` = 1), and
 * storage partitioned as in Chrome, and popups blocked unless a click opens them, as in Chrome. A
 * persistent profile, because the setting lives in it.
 * Tests assert the block is in force (test/browser/embedded.test.ts), not just that it was asked.
 */
export async function launchBlockingThirdPartyCookies(): Promise<BlockingProfile> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium).`,
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-chromium-'));
  fs.mkdirSync(path.join(dir, 'Default'));
  fs.writeFileSync(
    path.join(dir, 'Default', 'Preferences'),
    JSON.stringify({ profile: { cookie_controls_mode: 1 } }),
  );
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    // Playwright lets every popup through; a user's browser allows one only from a click.
    ignoreDefaultArgs: ['--disable-popup-blocking'],
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      `--disable-features=${DISABLED_FEATURES}`,
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Chromium for the tests of the enclosing block (or file), launched before them all and closed
 * after: `const browser = useChromium();`, then `browser().newPage()`.
 */
export function useChromium(extraArgs: string[] = []): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium(extraArgs);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (browser === undefined) throw new Error('useChromium: read before its hook launched it');
    return browser;
  };
}
