import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AGENT_USER, startEmulator, type GenesysEmulator } from '../../emulator/genesys-emulator';
import { SqliteSessionStore } from '../../server/stores/sqlite/store';
import { BrowserClient } from '../support/browser-client';
import { startHarness, TEST_SESSION_SECRET, type Harness } from '../support/gateway-harness';

// docs/contract.md#tokens-at-rest: "the first key encrypts, every listed key decrypts; rotating the secret list keeps old
// sessions readable until their secret is removed". Each step is a restart on the same SQLite file.
const NEW_SECRET = 'rotated-session-secret-0123456789abcdef-xyz';

describe('rotating SESSION_SECRET and TOKEN_ENCRYPTION_KEY', () => {
  let dir: string;
  let file: string;
  let emulator: GenesysEmulator;
  let running: Harness | undefined;

  async function restart(env: Record<string, string>): Promise<Harness> {
    await running?.close();
    running = await startHarness({
      emulator,
      store: (clock) => new SqliteSessionStore({ path: file, clock, sweepIntervalMs: 0 }),
      env: { SESSION_STORE: 'sqlite', SESSION_SQLITE_PATH: file, ...env },
    });
    return running;
  }

  /** The browser's cookies, presented to the gateway now running (its port changes per restart). */
  function browserFor(h: Harness, from: BrowserClient): BrowserClient {
    const to = new BrowserClient(h.url);
    for (const [name, cookie] of from.cookies) to.cookies.set(name, cookie);
    return to;
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-rotation-'));
    file = path.join(dir, 'sessions.sqlite');
    emulator = await startEmulator();
  });

  afterEach(async () => {
    await running?.close();
    running = undefined;
    await emulator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps old sessions while the old secret is listed second, and ends them once it is removed', async () => {
    const before = await (await restart({})).login(AGENT_USER);

    let h = await restart({ SESSION_SECRET: `${NEW_SECRET},${TEST_SESSION_SECRET}` });
    expect((await browserFor(h, before).get('/session', { csrf: true })).status).toBe(200);
    // New sessions are signed with the first secret: they survive the old one's removal.
    const after = await h.login(AGENT_USER);

    h = await restart({ SESSION_SECRET: NEW_SECRET });
    const old = await browserFor(h, before).get('/session', { csrf: true });
    expect(old.status).toBe(401);
    expect(old.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await browserFor(h, after).get('/session', { csrf: true })).status).toBe(200);
  });

  it('reads tokens sealed with a key that is still listed, and refuses them once it is removed', async () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const browser = await (await restart({ TOKEN_ENCRYPTION_KEY: oldKey })).login(AGENT_USER);

    let h = await restart({ TOKEN_ENCRYPTION_KEY: `${newKey},${oldKey}` });
    expect((await browserFor(h, browser).get('/session', { csrf: true })).status).toBe(200);

    h = await restart({ TOKEN_ENCRYPTION_KEY: newKey });
    emulator.clearRequests();
    expect((await browserFor(h, browser).get('/session', { csrf: true })).status).toBe(401);
    // Unreadable tokens are never sent anywhere, and the dead session leaves the store.
    expect(emulator.requestsFor('getTokensMe')).toHaveLength(0);
    expect(await h.store.countSessions()).toBe(0);
  });
});
