import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useHarness } from '../support/gateway-harness';
import type { SessionStore } from '../../server/stores/contract';
import { MemorySessionStore, memoryBacking } from '../../server/stores/memory';
import { SqliteSessionStore } from '../../server/stores/sqlite/store';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import { memoryContents, sessionIdsOfUser, sqliteIndexedCount } from '../support/store-contents';

/**
 * A store under test, plus a look at what it really holds: the store's listing hides expired
 * entries, so only the raw count can show a stale one left behind.
 */
interface StoreUnderTest {
  create(clock: () => number): SessionStore;
  /** Index entries held, for every user, expired ones included. */
  rawIndexed(): number;
  cleanup(): void;
}

const memory = (): StoreUnderTest => {
  const backing = memoryBacking();
  return {
    // No background sweep: the tests decide when one runs.
    create: (clock) => new MemorySessionStore({ clock, sweepIntervalMs: 0, backing }),
    rawIndexed: () => memoryContents(backing).indexedSessions,
    cleanup: () => undefined,
  };
};

const sqlite = (): StoreUnderTest => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-admin-index-'));
  const file = path.join(dir, 'sessions.sqlite');
  return {
    create: (clock) => new SqliteSessionStore({ path: file, clock, sweepIntervalMs: 0 }),
    rawIndexed: () => sqliteIndexedCount(file),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
};

describe.each([
  ['the memory store', memory],
  ['the SQLite store', sqlite],
])('the user → sessions index, on %s', (_name, make) => {
  let kind: StoreUnderTest;
  const raw = (): number => kind.rawIndexed();

  beforeEach(() => {
    kind = make();
  });
  const h = useHarness({ store: (clock) => kind.create(clock) });
  afterEach(() => kind.cleanup());

  it('logout (DELETE /session) takes the session out of the index', async () => {
    const first = await h.login(AGENT_USER);
    await h.login(AGENT_USER);
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(2);
    expect((await first.request('DELETE', '/session', { csrf: true })).status).toBe(204);
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(1);
    expect(raw()).toBe(1);
  });

  it('an expired session leaves no index entry once the store sweeps', async () => {
    const agent = await h.login(AGENT_USER);
    expect(raw()).toBe(1);
    h.emulator.advance((h.config.session.idleTimeoutSeconds + 1) * 1000);
    // Nothing has read the session since it expired: only the sweep can remove it.
    expect(raw()).toBe(1);
    expect(await h.store.sweep()).toBeGreaterThanOrEqual(1);
    expect(raw()).toBe(0);
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toEqual([]);
    expect((await agent.get('/session', { csrf: true })).status).toBe(401);
    expect(raw()).toBe(0);
  });

  it('five logins then five logouts leave the index empty', async () => {
    const clients = [];
    for (let i = 0; i < 5; i += 1) clients.push(await h.login(AGENT_USER));
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(5);
    expect(raw()).toBe(5);
    for (const client of clients) {
      expect((await client.request('DELETE', '/session', { csrf: true })).status).toBe(204);
    }
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toEqual([]);
    expect(raw()).toBe(0);
  });

  it('an admin revoke removes every index entry of the user and only theirs', async () => {
    const admin = await h.login(ADMIN_USER);
    await h.login(AGENT_USER);
    await h.login(AGENT_USER);
    expect(raw()).toBe(3);
    const res = await admin.request('DELETE', `/admin/users/${AGENT_USER.id}/tokens`, {
      csrf: true,
    });
    expect(res.status).toBe(204);
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toEqual([]);
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toHaveLength(1);
    expect(raw()).toBe(1);
  });
});
