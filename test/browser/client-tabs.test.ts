import fs from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { BrowserClient } from '../support/browser-client';
import {
  startHarness,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  useHarness,
  type Harness,
} from '../support/gateway-harness';
import { useChromium } from '../support/chromium';
import { ADMIN_USER } from '../../emulator/genesys-emulator';
import {
  countStreams,
  logInThroughPage,
  openClientPage,
  pageBff,
  seenBy,
  startStreamCutter,
  statusOf,
  waitForOneOpenStream,
  waitForSeen,
  writeClientPage,
} from './client-page';

// The client module as frontends use it: served by the gateway, imported by a page under the
// gateway's CSP, in tabs of one real Chromium profile, which share one /session/events stream.
const pages = writeClientPage();
const h = useHarness({ env: { STATIC_DIR: pages } });
const browser = useChromium();
let context: BrowserContext;

afterAll(async () => {
  fs.rmSync(pages, { recursive: true, force: true });
});

afterEach(async () => {
  await context?.close();
});

/** A logged-in first tab, then `more` tabs of the same browser profile. */
async function tabs(more: number, url = h.url): Promise<Page[]> {
  const first = await context.newPage();
  await logInThroughPage(first, url, ADMIN_USER);
  const rest: Page[] = [];
  for (let i = 0; i < more; i += 1) rest.push(await openClientPage(context, url));
  return [first, ...rest];
}

/** Ends every session of the admin from outside the browser (another session of the same user). */
async function revokeFromElsewhere(gateway: Harness = h, origin = gateway.url): Promise<void> {
  const other = await gateway.login(ADMIN_USER, { client: new BrowserClient(origin) });
  const res = await other.request('DELETE', `/admin/users/${ADMIN_USER.id}/tokens`, {
    csrf: true,
  });
  expect(res.status).toBe(204);
}

/** The gateway's own count of the streams it holds open (bff_event_streams_open). */
async function openAtGateway(gateway: Harness = h): Promise<number> {
  return (await gateway.metrics.eventStreams.get()).values[0]?.value ?? 0;
}

/** The gateway's access lines for event streams that have closed. */
function streamLines(): unknown[] {
  return h.logs
    .map((line) => JSON.parse(line) as { path?: string })
    .filter((line) => line.path === '/session/events');
}

describe('the client module in real Chromium: one stream for every tab', () => {
  beforeEach(async () => {
    context = await browser().newContext();
  });

  it('ten tabs open one stream, and a logout in one reaches the others within 2 s', async () => {
    const streams = countStreams(context);
    const all = await tabs(9);
    await waitForOneOpenStream(all);
    // Time for any tab that would open its own stream to have done so.
    await new Promise((r) => setTimeout(r, 1000));
    expect(streams.opened).toBe(1);
    expect(await openAtGateway()).toBe(1);

    // A logout the client module does not make (no BroadcastChannel message): only the gateway's
    // `ended` event, heard by the leader and passed on, can tell the tabs.
    const [first, second] = all as [Page, Page];
    const started = Date.now();
    const status = await second.evaluate(
      async () =>
        (await fetch('/session', { method: 'DELETE', headers: { 'X-CSRF': '1' } })).status,
    );
    expect(status).toBe(204);
    for (const page of all) {
      const [ended] = await waitForSeen(page, 'ended', { timeout: 2000 });
      expect(ended?.data).toEqual({ reason: 'logout' });
    }
    expect(Date.now() - started).toBeLessThan(2000);
    // Once per tab, and the stream is not reopened for a session that is gone.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await seenBy(first, 'ended')).toHaveLength(1);
    expect(streams.opened).toBe(1);
    expect((await statusOf(first)).connected).toBe(false);
    // The gateway saw the same: one stream, closed now (its access line is written at the end).
    expect(streamLines()).toHaveLength(1);
  }, 60_000);

  it('bff.logout() in one tab ends the session in every tab and at the gateway', async () => {
    const all = await tabs(1);
    await waitForOneOpenStream(all);
    const [, second] = all as [Page, Page];
    await pageBff(second).logout();
    for (const page of all) {
      expect((await waitForSeen(page, 'ended', { timeout: 2000 }))[0]?.data).toEqual({
        reason: 'logout',
      });
    }
    expect(await h.store.countSessions()).toBe(0);
  }, 30_000);

  it('when the leader tab closes, another tab takes the stream over', async () => {
    const streams = countStreams(context);
    const all = await tabs(2);
    const leader = await waitForOneOpenStream(all);
    await leader.close();
    const rest = all.filter((p) => p !== leader);
    const next = await waitForOneOpenStream(rest);
    expect(rest).toContain(next);
    expect(streams.opened).toBe(2);
    // The new leader said "connected" only once its own stream had opened, not on taking the lead
    // while the closed tab's stream was still the last one it had heard of.
    const changes = (await seenBy(next, 'stream')).map((s) => s.data);
    const tookLead = changes.findIndex((d) => d.leader === true);
    expect(changes[tookLead]).toEqual({ leader: true, connected: false });
    expect(changes.slice(tookLead + 1)).toContainEqual({ leader: true, connected: true });

    await revokeFromElsewhere();
    for (const page of rest) {
      expect((await waitForSeen(page, 'ended', { timeout: 2000 }))[0]?.data).toEqual({
        reason: 'revoked',
      });
    }
  }, 30_000);

  it('a 401 answer to bff.fetch fires ended in every tab', async () => {
    const all = await tabs(1);
    const leader = await waitForOneOpenStream(all);
    const follower = all.find((p) => p !== leader) as Page;
    // The browser loses its cookie; the session itself lives on, so no event comes from the gateway.
    await context.clearCookies();
    expect(await pageBff(follower).fetchStatus('/session')).toBe(401);
    for (const page of all) {
      expect((await waitForSeen(page, 'ended', { timeout: 2000 }))[0]?.data).toEqual({
        reason: 'unauthenticated',
      });
    }
    // The leader let its stream go with the session.
    expect((await statusOf(leader)).connected).toBe(false);
  }, 30_000);

  it('reopens the stream after its connection drops, and still hears the session end', async () => {
    // The gateway behind a pipe that can cut connections: the pipe is the public origin.
    const cutter = await startStreamCutter();
    const behind = await startHarness({
      env: { STATIC_DIR: pages, PUBLIC_BASE_URL: cutter.url },
    });
    try {
      cutter.target(behind.server.address.port);
      behind.emulator.addClient({
        id: TEST_CLIENT_ID,
        secret: TEST_CLIENT_SECRET,
        name: 'tokens-bff tests',
        redirectUris: [behind.config.oauth.redirectUri],
      });
      const streams = countStreams(context);
      const all = await tabs(1, cutter.url);
      await waitForOneOpenStream(all);
      expect(cutter.dropStreams()).toBe(1);
      // Backoff of 100 to 200 ms in the test page, then a probe, then the stream again.
      for (let i = 0; i < 200 && streams.opened < 2; i += 1) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(streams.opened).toBe(2);
      await waitForOneOpenStream(all);
      // The gateway let the cut stream go: it holds the new one only.
      expect(await openAtGateway(behind)).toBe(1);
      expect(await seenBy(all[0] as Page, 'ended')).toEqual([]);

      await revokeFromElsewhere(behind, cutter.url);
      for (const page of all) {
        expect((await waitForSeen(page, 'ended', { timeout: 2000 }))[0]?.data).toEqual({
          reason: 'revoked',
        });
      }
    } finally {
      await behind.close();
      await cutter.close();
    }
  }, 30_000);
});

describe('the client module without the Web Locks API (heartbeats on the BroadcastChannel)', () => {
  beforeEach(async () => {
    context = await browser().newContext();
    // As in a browser that has BroadcastChannel but no navigator.locks.
    await context.addInitScript(() => {
      Object.defineProperty(Object.getPrototypeOf(navigator), 'locks', { value: undefined });
    });
  });

  it('still opens one stream for three tabs, and hands it over when the leader closes', async () => {
    const streams = countStreams(context);
    const all = await tabs(2);
    const leader = await waitForOneOpenStream(all);
    await new Promise((r) => setTimeout(r, 1500));
    expect(streams.opened).toBe(1);
    await leader.close();
    const rest = all.filter((p) => p !== leader);
    await waitForOneOpenStream(rest);
    expect(streams.opened).toBe(2);

    await revokeFromElsewhere();
    for (const page of rest) {
      expect((await waitForSeen(page, 'ended', { timeout: 2000 }))[0]?.data).toEqual({
        reason: 'revoked',
      });
    }
  }, 30_000);
});

declare const navigator: object;
