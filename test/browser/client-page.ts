import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import type { EmulatorUser } from '../../emulator/genesys-emulator';

/**
 * A bare page for the client module's browser tests, served by the gateway itself (STATIC_DIR) so
 * it gets the gateway's CSP: it imports /bff/client-v1.js as a frontend would, and keeps what the
 * client reports in `window.seen` for the tests to read.
 */
const INDEX = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>client module test page</title></head>
  <body><script type="module" src="/page.js"></script></body>
</html>
`;

const SCRIPT = `import { createBff } from '/bff/client-v1.js';
window.seen = [];
window.bff = createBff({ reconnect: { initialMs: 200, maxMs: 1000 } });
for (const name of ['ended', 'expiring', 'user', 'stream']) {
  window.bff.on(name, (data) => window.seen.push({ name, data, at: Date.now() }));
}
`;

/** Writes the page into a temp folder; returns it (the caller removes it). */
export function writeClientPage(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-client-page-'));
  fs.writeFileSync(path.join(dir, 'index.html'), INDEX);
  fs.writeFileSync(path.join(dir, 'page.js'), SCRIPT);
  return dir;
}

/** What the page's script keeps: every event the client fired, with the page's clock. */
export interface Seen {
  name: 'ended' | 'expiring' | 'user' | 'stream';
  data: Record<string, unknown>;
  at: number;
}

// The DOM names used inside page.evaluate callbacks (the test project has no DOM lib).
interface StreamStatus {
  leader: boolean;
  connected: boolean;
}
interface PageBff {
  status: StreamStatus;
  logout(): Promise<void>;
  fetch(path: string, init?: { method?: string }): Promise<{ status: number }>;
  user(o?: { preserveIdleTTL?: boolean }): Promise<unknown>;
  close(): void;
}
declare const window: { bff: PageBff; seen: Seen[] };

/** Opens the test page in `context`, once its client exists. */
export async function openClientPage(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.waitForFunction(() => window.bff !== undefined);
  return page;
}

/** Logs `user` in through the emulator's login page, in `page`'s browser context. */
export async function logInThroughPage(page: Page, url: string, user: EmulatorUser): Promise<void> {
  await page.goto(`${url}/auth/login?returnTo=/`);
  await page.click(`text=Sign in as ${user.name}`);
  await page.waitForURL(`${url}/`);
  await page.waitForFunction(() => window.bff !== undefined);
}

export function statusOf(page: Page): Promise<StreamStatus> {
  return page.evaluate(() => window.bff.status);
}

export function seenBy(page: Page, name?: Seen['name']): Promise<Seen[]> {
  return page.evaluate((n) => window.seen.filter((s) => n === undefined || s.name === n), name);
}

/** Waits until the page's client has fired `name` (`count` times); resolves with those events. */
export async function waitForSeen(
  page: Page,
  name: Seen['name'],
  options: { count?: number; timeout?: number } = {},
): Promise<Seen[]> {
  const count = options.count ?? 1;
  await page.waitForFunction(
    ([n, c]) => window.seen.filter((s) => s.name === n).length >= c,
    [name, count] as const,
    { timeout: options.timeout ?? 5000 },
  );
  return seenBy(page, name);
}

/** Waits until exactly one of `pages` leads and every one of them knows the stream is open. */
export async function waitForOneOpenStream(pages: Page[], timeout = 5000): Promise<Page> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const statuses = await Promise.all(pages.map(statusOf));
    const leaders = pages.filter((_p, i) => statuses[i]?.leader === true);
    if (leaders.length === 1 && statuses.every((s) => s.connected)) return leaders[0] as Page;
    if (Date.now() > deadline) {
      throw new Error(`no single open stream: ${JSON.stringify(statuses)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Counts the /session/events requests the browser context sends (every tab of it). */
export function countStreams(context: BrowserContext): { readonly opened: number } {
  const counter = { opened: 0 };
  context.on('request', (r) => {
    if (new URL(r.url()).pathname === '/session/events') counter.opened += 1;
  });
  return counter;
}

export function pageBff(page: Page) {
  return {
    logout: () => page.evaluate(() => window.bff.logout()),
    fetchStatus: (path: string, method = 'GET') =>
      page.evaluate(async ([p, m]) => (await window.bff.fetch(p, { method: m })).status, [
        path,
        method,
      ] as const),
    close: () => page.evaluate(() => window.bff.close()),
  };
}

/**
 * A TCP pipe in front of the gateway, so a test can drop the connections that carry an event
 * stream as a network would (a browser's offline mode leaves an open EventSource alone).
 */
export interface StreamCutter {
  readonly url: string;
  /** Points the pipe at the gateway (known only once it listens). */
  target(port: number): void;
  /** Destroys every connection that has carried a `GET /session/events`; resolves with how many. */
  dropStreams(): number;
  close(): Promise<void>;
}

export async function startStreamCutter(): Promise<StreamCutter> {
  let port = 0;
  const streams = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        streams.delete(s);
      });
      s.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      if (chunk.subarray(0, 20).toString('latin1').startsWith('GET /session/events')) {
        streams.add(client);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${own}`,
    target(p) {
      port = p;
    },
    dropStreams() {
      const n = streams.size;
      for (const s of streams) s.destroy();
      return n;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
