import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../server/stores/errors';
import { expressSessionStore } from '../server/stores/express-adapter';
import { SqliteSessionStore } from '../server/stores/sqlite/store';
import type { SqliteSessionStoreOptions } from '../server/stores/sqlite/store';
import { createTokenVault } from '../server/session/token-vault';
import { describeSessionStoreContract, sessionFor } from './support/session-store-contract';
import { sessionIdsOfUser, sqliteRowCount } from './support/store-contents';

const tempDirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bff-sqlite-'));
  tempDirs.push(dir);
  return dir;
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

const optionsOf = new WeakMap<object, SqliteSessionStoreOptions>();

function openWith(options: SqliteSessionStoreOptions): SqliteSessionStore {
  const store = new SqliteSessionStore(options);
  optionsOf.set(store, options);
  return store;
}

describeSessionStoreContract('SqliteSessionStore', {
  create: (options) => openWith({ path: path.join(tempDir(), 'sessions.sqlite'), ...options }),
  rawSize: (store) => sqliteRowCount((optionsOf.get(store) as SqliteSessionStoreOptions).path),
  // Another process on the same file, as far as SQLite's locking goes: its own connection.
  sameBacking: (store) => openWith(optionsOf.get(store) as SqliteSessionStoreOptions),
  cleanup: removeTempDirs,
});

describe('SqliteSessionStore', () => {
  let now: number;
  let dbPath: string;
  const stores: SqliteSessionStore[] = [];
  const others: Database.Database[] = [];

  function open(options: Partial<SqliteSessionStoreOptions> = {}): SqliteSessionStore {
    const store = new SqliteSessionStore({
      path: dbPath,
      clock: () => now,
      sweepIntervalMs: 0,
      ...options,
    });
    stores.push(store);
    return store;
  }

  beforeEach(() => {
    now = Date.now();
    dbPath = path.join(tempDir(), 'data', 'sessions.sqlite');
  });

  afterEach(async () => {
    for (const other of others.splice(0)) if (other.open) other.close();
    for (const store of stores.splice(0)) await store.close();
    removeTempDirs();
  });

  describe('the file', () => {
    it('creates the missing folder and a file only its owner can read', () => {
      open();
      expect(fs.statSync(dbPath).mode & 0o077).toBe(0);
      expect(fs.readdirSync(path.dirname(dbPath))).toContain('sessions.sqlite');
    });

    it('keeps sessions across a restart with the same file', async () => {
      const first = open();
      await first.setSession('s1', sessionFor(now, { userId: 'alice', tokens: 'sealed' }));
      await first.close();
      const second = open();
      expect(await second.getSession('s1')).toMatchObject({
        user: { id: 'alice' },
        tokens: 'sealed',
      });
      expect(await sessionIdsOfUser(second, 'alice')).toEqual(['s1']);
    });

    it('holds no token bytes when the app stores sealed tokens', async () => {
      const vault = createTokenVault([randomBytes(32)]);
      const store = open();
      const tokens = vault.seal(
        JSON.stringify({ accessToken: 'AT-secret-123', refreshToken: 'RT-secret-456' }),
      );
      await store.setSession('s1', sessionFor(now, { userId: 'user-in-file', tokens }));
      // Read the WAL before close too: that is where a live process keeps fresh writes.
      const liveWal = readIfExists(`${dbPath}-wal`);
      await store.close();
      const bytes = Buffer.concat([
        fs.readFileSync(dbPath),
        liveWal,
        readIfExists(`${dbPath}-wal`),
        readIfExists(`${dbPath}-shm`),
      ]);
      expect(bytes.includes('user-in-file')).toBe(true);
      expect(bytes.includes('AT-secret-123')).toBe(false);
      expect(bytes.includes('RT-secret-456')).toBe(false);
    });

    it('refuses to start on a path it cannot open, with StoreUnavailableError', () => {
      const dir = tempDir();
      expect(() => new SqliteSessionStore({ path: dir })).toThrow(StoreUnavailableError);
    });

    it('refuses a database written by a newer schema', () => {
      fs.mkdirSync(path.dirname(dbPath), { recursive: true });
      const other = new Database(dbPath);
      other.pragma('user_version = 99');
      other.close();
      expect(() => open()).toThrow(StoreUnavailableError);
    });
  });

  describe('when another process locks the database', () => {
    function lockFromAnotherConnection(): Database.Database {
      const other = new Database(dbPath);
      others.push(other);
      other.exec('BEGIN EXCLUSIVE');
      return other;
    }

    it('fails a write with StoreUnavailableError within the busy timeout, then fails fast until the lock goes', async () => {
      const store = open({ busyTimeoutMs: 500 });
      await store.setSession('s1', sessionFor(now, { userId: 'alice' }));
      const other = lockFromAnotherConnection();

      let started = Date.now();
      await expect(store.setSession('s2', sessionFor(now))).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      const firstWait = Date.now() - started;
      expect(firstWait).toBeGreaterThanOrEqual(400);
      expect(firstWait).toBeLessThan(1500);

      // Later requests must not each block the event loop for the busy timeout again.
      started = Date.now();
      await expect(store.destroyUser('alice')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      const setErr = await new Promise((resolve) =>
        expressSessionStore(store).set('s3', sessionFor(now), (err) => resolve(err)),
      );
      expect(setErr).toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(200);
      // WAL readers are not blocked by a writer, so sessions can still be read.
      expect((await store.getSession('s1'))?.user?.id).toBe('alice');

      other.exec('ROLLBACK');
      await expect(store.ping()).resolves.toBeUndefined();
      await store.setSession('s2', sessionFor(now));
      expect(await store.getSession('s2')).not.toBeNull();

      // Once recovered, a short lock is waited for again rather than failed at once.
      other.exec('BEGIN EXCLUSIVE');
      started = Date.now();
      await expect(store.setSession('s4', sessionFor(now))).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    });

    it('with the default busy timeout, still answers within 2 s', async () => {
      const store = open();
      lockFromAnotherConnection();
      const started = Date.now();
      await expect(store.setSession('s1', sessionFor(now))).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });

  describe('when the file is deleted or replaced under the running store', () => {
    it('fails with StoreUnavailableError instead of writing into the deleted file, then starts afresh', async () => {
      const store = open();
      await store.setSession('s1', sessionFor(now, { userId: 'alice' }));
      fs.unlinkSync(dbPath);

      now += 1000;
      await expect(store.setSession('s2', sessionFor(now))).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      // The old WAL would otherwise be replayed into whatever file appears at the path.
      expect(fs.existsSync(`${dbPath}-wal`)).toBe(false);
      await expect(store.getSession('s1')).rejects.toBeInstanceOf(StoreUnavailableError);

      now += 1000;
      expect(await store.getSession('s1')).toBeNull();
      await store.setSession('s3', sessionFor(now, { userId: 'bob' }));
      expect(fs.existsSync(dbPath)).toBe(true);
      expect(await sessionIdsOfUser(store, 'bob')).toEqual(['s3']);
    });

    it('ping notices at once, and the next ping reopens', async () => {
      const store = open();
      fs.unlinkSync(dbPath);
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('serves a restored file that replaced the open one, without replaying our old WAL into it', async () => {
      const backupPath = path.join(path.dirname(dbPath), 'backup.sqlite');
      const backup = open({ path: backupPath });
      await backup.setSession('restored', sessionFor(now, { userId: 'alice' }));
      await backup.close();

      const store = open();
      await store.setSession('lost', sessionFor(now, { userId: 'bob' }));
      fs.renameSync(backupPath, dbPath);

      now += 1000;
      await expect(store.getSession('lost')).rejects.toBeInstanceOf(StoreUnavailableError);
      now += 1000;
      expect(await store.getSession('lost')).toBeNull();
      expect((await store.getSession('restored'))?.user?.id).toBe('alice');
      expect(await sessionIdsOfUser(store, 'bob')).toEqual([]);
    });

    it('checks the file at most once per interval on the hot path', async () => {
      const store = open({ fileCheckIntervalMs: 1000 });
      const stat = jest.spyOn(fs, 'statSync');
      try {
        for (let i = 0; i < 100; i += 1) await store.getSession('s1');
        expect(stat).not.toHaveBeenCalled();
        now += 1000;
        await store.getSession('s1');
        expect(stat).toHaveBeenCalledTimes(1);
      } finally {
        stat.mockRestore();
      }
    });
  });

  it('skips a row whose data is not a session instead of failing every request', async () => {
    const store = open();
    await store.setSession('s1', sessionFor(now, { userId: 'alice' }));
    const other = new Database(dbPath);
    others.push(other);
    other.prepare("UPDATE sessions SET data = 'not json' WHERE sid = 's1'").run();
    expect(await store.getSession('s1')).toBeNull();
    expect(sqliteRowCount(dbPath)).toBe(0);
  });
});

function readIfExists(file: string): Buffer {
  return fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
}
