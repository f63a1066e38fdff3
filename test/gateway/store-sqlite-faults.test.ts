import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AGENT_USER, startEmulator, type GenesysEmulator } from '../../emulator/genesys-emulator';
import { SqliteSessionStore } from '../../server/stores/sqlite/store';
import { BrowserClient } from '../support/browser-client';
import {
  startHarness,
  storedTokenSets,
  type Harness,
  type HarnessOptions,
} from '../support/gateway-harness';
import {
  STORE_DOWN_BUDGET_MS,
  carryCookies,
  expectStoreDown,
  timed,
} from '../support/replica-helpers';

function sqliteOptions(file: string): HarnessOptions {
  return {
    store: (clock) => new SqliteSessionStore({ path: file, clock, sweepIntervalMs: 0 }),
    env: { SESSION_STORE: 'sqlite', SESSION_SQLITE_PATH: file },
  };
}

describe('SQLite session store', () => {
  let dir: string;
  let file: string;
  let emulator: GenesysEmulator;
  const harnesses: Harness[] = [];

  async function gateway(): Promise<Harness> {
    const h = await startHarness({ ...sqliteOptions(file), emulator });
    harnesses.push(h);
    return h;
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-store-'));
    file = path.join(dir, 'sessions.sqlite');
    emulator = await startEmulator();
  });

  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
    await emulator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('/readyz answers 200 while the store is healthy', async () => {
    const h = await gateway();
    const res = await h.client().get('/readyz');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ready' });
  });

  it('a restart on the same file keeps sessions: the old cookie still works', async () => {
    const first = await gateway();
    const browser = await first.login(AGENT_USER);
    const [tokens] = await storedTokenSets(first);
    await first.close();
    harnesses.splice(harnesses.indexOf(first), 1);

    const second = await gateway();
    const again = carryCookies(browser, new BrowserClient(second.url));
    emulator.clearRequests();
    const res = await again.get('/session', { csrf: true });
    expect(res.status).toBe(200);
    // The same Genesys token, read back from the file by a fresh process.
    expect(emulator.requestsFor('getTokensMe')[0]?.headers.authorization).toBe(
      `Bearer ${tokens?.accessToken}`,
    );
    expect(await second.store.countSessions()).toBe(1);
  });

  it('a dump of the store file (with its -wal) holds no token bytes', async () => {
    const h = await gateway();
    await h.login(AGENT_USER);
    const [tokens] = await storedTokenSets(h);
    expect(tokens?.refreshToken).toBeDefined();
    const dumps = ['', '-wal', '-shm']
      .map((suffix) => `${file}${suffix}`)
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f));
    const all = Buffer.concat(dumps);
    // Control: the dump does hold the session (the user id is stored in the clear for the index).
    expect(all.includes(Buffer.from(AGENT_USER.id))).toBe(true);
    for (const secret of [tokens?.accessToken, tokens?.refreshToken]) {
      expect(all.includes(Buffer.from(secret as string))).toBe(false);
      expect(all.includes(Buffer.from(secret as string, 'base64url'))).toBe(false);
    }
  });

  describe('when another process locks the database for writing', () => {
    let locker: Database.Database | undefined;

    afterEach(() => {
      if (locker?.inTransaction) locker.exec('ROLLBACK');
      locker?.close();
      locker = undefined;
    });

    it('answers within 2 s, /readyz is 503, /healthz 200, and all recovers once the lock goes', async () => {
      const h = await gateway();
      const browser = await h.login(AGENT_USER);
      locker = new Database(file);
      locker.exec('BEGIN EXCLUSIVE');

      // In WAL mode readers still get through: a live session keeps being served, and only the
      // write of its rolling expiry fails (logged), within the budget.
      const [read, readMs] = await timed(() => browser.get('/session', { csrf: true }));
      expect([200, 503]).toContain(read.status);
      expect(readMs).toBeLessThan(STORE_DOWN_BUDGET_MS);

      const [ready, readyMs] = await timed(() => h.client().get('/readyz'));
      expectStoreDown(ready, readyMs);
      const [health, healthMs] = await timed(() => h.client().get('/healthz'));
      expect(health.status).toBe(200);
      expect(healthMs).toBeLessThan(500);

      // What needs a write answers 503 problem+json at once: a login cannot record its state.
      const newcomer = h.client();
      emulator.autoApprove(AGENT_USER.id);
      const start = await newcomer.get('/auth/login');
      const authorize = await newcomer.get(start.location ?? '');
      const [callback, callbackMs] = await timed(() => newcomer.get(authorize.location ?? ''));
      expectStoreDown(callback, callbackMs);
      expect(callback.text).not.toMatch(/database is locked|sqlite/i);

      locker.exec('ROLLBACK');
      locker.close();
      locker = undefined;

      expect((await h.client().get('/readyz')).status).toBe(200);
      expect((await browser.get('/session', { csrf: true })).status).toBe(200);
      const fresh = await h.login(AGENT_USER);
      expect((await fresh.get('/session', { csrf: true })).status).toBe(200);
      const metrics = await h.metrics.registry.getSingleMetricAsString(
        'bff_session_store_errors_total',
      );
      expect(metrics).toMatch(/bff_session_store_errors_total [1-9]/);
    });

    it('a logout that cannot drop the record answers 503 but still revokes the token', async () => {
      const h = await gateway();
      const browser = await h.login(AGENT_USER);
      const [tokens] = await storedTokenSets(h);
      locker = new Database(file);
      locker.exec('BEGIN EXCLUSIVE');
      const [res, ms] = await timed(() => browser.request('DELETE', '/session', { csrf: true }));
      expectStoreDown(res, ms);
      // The record may outlive this logout, but the token in it is dead.
      expect(emulator.isTokenActive(tokens?.accessToken ?? '')).toBe(false);
      expect(emulator.requestsFor('deleteTokensMe')).toHaveLength(1);
    });
  });

  describe('when the database file is deleted', () => {
    it('answers 503 (never 500), the process stays up, and after a fresh login all works', async () => {
      const h = await gateway();
      const browser = await h.login(AGENT_USER);
      fs.unlinkSync(file);
      // /readyz looks at the file at once.
      const [ready, readyMs] = await timed(() => h.client().get('/readyz'));
      expectStoreDown(ready, readyMs);
      const [res, ms] = await timed(() => browser.get('/session', { csrf: true }));
      expectStoreDown(res, ms);
      expect((await h.client().get('/healthz')).status).toBe(200);

      // A moment later the store reopens a fresh file: the old session is gone, a login works.
      emulator.advance(1_000);
      const after = await browser.get('/session', { csrf: true });
      expect([401, 503]).toContain(after.status);
      expect((await h.client().get('/readyz')).status).toBe(200);
      const fresh = await h.login(AGENT_USER);
      expect((await fresh.get('/session', { csrf: true })).status).toBe(200);
      expect(fs.existsSync(file)).toBe(true);
    });

    it('a request before the periodic file check still answers, never 500', async () => {
      const h = await gateway();
      const browser = await h.login(AGENT_USER);
      fs.unlinkSync(file);
      const res = await browser.get('/session', { csrf: true });
      expect([200, 401, 503]).toContain(res.status);
      emulator.advance(1_000);
      const later = await browser.get('/session', { csrf: true });
      expect([401, 503]).toContain(later.status);
      expect(later.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    });
  });
});
