import express from 'express';
import session from 'express-session';
import type { SessionData } from 'express-session';
import request from 'supertest';
import type { SessionStore } from '../../server/stores/contract';
import { StoreUnavailableError } from '../../server/stores/errors';
import { expressSessionStore, type ExpressSessionStore } from '../../server/stores/express-adapter';
import { sessionIdsOfUser } from './store-contents';

/** What the contract passes to a store factory. */
export interface ContractStoreOptions {
  clock: () => number;
  defaultTtlMs: number;
  /** 0 unless a test exercises the timer: the contract sweeps by hand. */
  sweepIntervalMs: number;
  absoluteTimeoutMs?: number;
}

/** How a store implementation plugs into the contract suite. */
export interface SessionStoreContractHarness {
  /** A fresh, empty store. */
  create(options: ContractStoreOptions): SessionStore | Promise<SessionStore>;
  /** Entries the store holds, expired and index entries included, to prove nothing leaks. */
  rawSize(store: SessionStore): number | Promise<number>;
  /**
   * A second store on the same backing as `store` (same file, same Redis and prefix), as another
   * replica would open it; omitted where there is no such thing (memory).
   */
  sameBacking?(store: SessionStore): SessionStore | Promise<SessionStore>;
  /** Runs after each test, once every store made by the test is closed. */
  cleanup?(): void | Promise<void>;
}

const DEFAULT_TTL_MS = 60_000;

/** A session as express-session would hand it to the store, expiring `ttlMs` after `now`. */
export function sessionFor(
  now: number,
  options: { userId?: string; ttlMs?: number | null; tokens?: string; createdAt?: number } = {},
): SessionData {
  // The real Cookie class, so the stores see what express-session passes (a Date, toJSON).
  const cookie = new session.Cookie();
  cookie.sameSite = 'strict';
  if (options.ttlMs !== null) cookie.expires = new Date(now + (options.ttlMs ?? 30_000));
  const sess: SessionData = { cookie };
  if (options.userId !== undefined)
    sess.user = { id: options.userId, name: `User ${options.userId}` };
  if (options.tokens !== undefined) sess.tokens = options.tokens;
  if (options.createdAt !== undefined) sess.createdAt = options.createdAt;
  return sess;
}

/** The behaviour every SessionStore must have (memory, SQLite, Redis), also through express-session. */
export function describeSessionStoreContract(
  name: string,
  harness: SessionStoreContractHarness,
): void {
  describe(`${name}: session store contract`, () => {
    let now: number;
    const clock = (): number => now;
    const opened: SessionStore[] = [];

    async function open(overrides: Partial<ContractStoreOptions> = {}): Promise<SessionStore> {
      const store = await harness.create({
        clock,
        defaultTtlMs: DEFAULT_TTL_MS,
        sweepIntervalMs: 0,
        ...overrides,
      });
      opened.push(store);
      return store;
    }

    let store: SessionStore;
    // The store as express-session sees it (its callback methods).
    let expressStore: ExpressSessionStore;

    beforeEach(async () => {
      // Real time, so cookies that express-session itself creates agree with the store's clock.
      now = Date.now();
      store = await open();
      expressStore = expressSessionStore(store);
    });

    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      await harness.cleanup?.();
    });

    describe('get / set / destroy', () => {
      it('returns null for a session it never saw', async () => {
        expect(await store.getSession('nope')).toBeNull();
      });

      it('returns what was set, as JSON data', async () => {
        const sess = sessionFor(now, { userId: 'u1', tokens: 'v1.sealed', createdAt: now });
        await store.setSession('s1', sess);
        const got = await store.getSession('s1');
        expect(got).toEqual(JSON.parse(JSON.stringify(sess)));
        expect(got?.user).toEqual({ id: 'u1', name: 'User u1' });
        expect(got?.cookie.expires).toBe(new Date(now + 30_000).toISOString());
      });

      it('keeps stored state away from callers: mutating what went in or came out changes nothing', async () => {
        const sess = sessionFor(now, { userId: 'u1' });
        await store.setSession('s1', sess);
        sess.user = { id: 'attacker', name: 'x' };
        const got = await store.getSession('s1');
        if (!got?.user) throw new Error('expected a session with a user');
        got.user.id = 'attacker';
        expect((await store.getSession('s1'))?.user?.id).toBe('u1');
      });

      it('overwrites on set', async () => {
        await store.setSession('s1', sessionFor(now, { userId: 'u1', tokens: 'old' }));
        await store.setSession('s1', sessionFor(now, { userId: 'u1', tokens: 'new' }));
        expect((await store.getSession('s1'))?.tokens).toBe('new');
        expect(await store.countSessions()).toBe(1);
      });

      it("lists a user's live sessions only: not another user's, not expired or destroyed ones", async () => {
        await store.setSession('a1', sessionFor(now, { userId: 'alice' }));
        await store.setSession('a2', sessionFor(now, { userId: 'alice' }));
        await store.setSession('a3', sessionFor(now, { userId: 'alice', ttlMs: 10 }));
        await store.setSession('a4', sessionFor(now, { userId: 'alice' }));
        await store.setSession('b1', sessionFor(now, { userId: 'bob' }));
        await store.destroySession('a4');
        now += 20;
        const mine = await store.sessionsOfUser('alice');
        expect(Object.keys(mine).sort()).toEqual(['a1', 'a2']);
        expect(mine.a1?.user?.id).toBe('alice');
        expect(await store.sessionsOfUser('nobody')).toEqual({});
      });

      it('broadcasts each message to every subscriber, the publisher itself included, in order', async () => {
        const first: string[] = [];
        const second: string[] = [];
        await store.broadcast.subscribe((m) => first.push(m));
        await store.broadcast.subscribe((m) => second.push(m));
        // Many, one after the other: a Cluster that took each PUBLISH at another node delivered
        // them out of order.
        const sent = Array.from({ length: 50 }, (_v, i) => `message-${i}`);
        for (const message of sent) await store.broadcast.publish(message);
        const deadline = Date.now() + 2000;
        while (
          (first.length < sent.length || second.length < sent.length) &&
          Date.now() < deadline
        ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        expect(first).toEqual(sent);
        expect(second).toEqual(sent);
      });

      it('destroys a session, and destroying a missing one is not an error', async () => {
        await store.setSession('s1', sessionFor(now, { userId: 'u1' }));
        // Whether there was a record: a session's end is counted once, by whoever removed it.
        expect(await store.destroySession('s1')).toBe(true);
        expect(await store.destroySession('s1')).toBe(false);
        expect(await store.getSession('s1')).toBeNull();
        expect(await harness.rawSize(store)).toBe(0);
      });

      it('lists, counts and clears live sessions', async () => {
        await store.setSession('a', sessionFor(now, { userId: 'u1' }));
        await store.setSession('b', sessionFor(now, { userId: 'u2' }));
        await store.setSession('old', sessionFor(now, { userId: 'u3', ttlMs: 10 }));
        now += 20;
        expect(Object.keys(await store.allSessions()).sort()).toEqual(['a', 'b']);
        expect(await store.countSessions()).toBe(2);
        await store.clearSessions();
        expect(await store.countSessions()).toBe(0);
        expect(await sessionIdsOfUser(store, 'u1')).toEqual([]);
        expect(await harness.rawSize(store)).toBe(0);
      });
    });

    describe('expiry', () => {
      it('expires a session at its cookie expiry and removes it lazily', async () => {
        await store.setSession('s1', sessionFor(now, { userId: 'u1', ttlMs: 1000 }));
        now += 999;
        expect(await store.getSession('s1')).not.toBeNull();
        now += 1;
        expect(await store.getSession('s1')).toBeNull();
        expect(await harness.rawSize(store)).toBe(0);
      });

      it('uses the default ttl when the cookie has no expiry (browser-session cookie)', async () => {
        await store.setSession('s1', sessionFor(now, { userId: 'u1', ttlMs: null }));
        now += DEFAULT_TTL_MS - 1;
        expect(await store.getSession('s1')).not.toBeNull();
        now += 1;
        expect(await store.getSession('s1')).toBeNull();
      });

      it('accepts a cookie expiry given as a string (data that went through JSON)', async () => {
        const sess = JSON.parse(JSON.stringify(sessionFor(now, { ttlMs: 500 }))) as SessionData;
        await store.setSession('s1', sess);
        now += 500;
        expect(await store.getSession('s1')).toBeNull();
      });

      it('never keeps a session past createdAt + the absolute timeout, when one is set', async () => {
        const capped = await open({ absoluteTimeoutMs: 10_000 });
        await capped.setSession('s1', sessionFor(now, { createdAt: now - 9_000, ttlMs: 30_000 }));
        now += 999;
        expect(await capped.getSession('s1')).not.toBeNull();
        now += 1;
        expect(await capped.getSession('s1')).toBeNull();
      });

      it('sweep removes expired sessions and counts them', async () => {
        await store.setSession('short', sessionFor(now, { userId: 'u1', ttlMs: 100 }));
        await store.setSession('long', sessionFor(now, { userId: 'u1', ttlMs: 10_000 }));
        now += 100;
        expect(await store.sweep()).toBe(1);
        expect(await sessionIdsOfUser(store, 'u1')).toEqual(['long']);
        expect(await store.sweep()).toBe(0);
      });

      it('sweeps on its own timer, and close() stops it', async () => {
        const timed = await open({ sweepIntervalMs: 10 });
        const sweep = jest.spyOn(timed, 'sweep');
        await timed.setSession('s1', sessionFor(now, { userId: 'u1', ttlMs: 1 }));
        now += 5;
        // In a store that answers over the network, a sweep may have started (with the old
        // time) while the set was in flight: look at one that starts now, once it is done.
        sweep.mockClear();
        await waitFor(() => sweep.mock.calls.length > 0);
        await sweep.mock.results[0]?.value;
        expect(await harness.rawSize(timed)).toBe(0);
        await timed.close();
        sweep.mockClear();
        await delay(50);
        expect(sweep).not.toHaveBeenCalled();
      });
    });

    describe('user index', () => {
      it('lists the live sessions of a user', async () => {
        await store.setSession('a1', sessionFor(now, { userId: 'alice' }));
        await store.setSession('a2', sessionFor(now, { userId: 'alice' }));
        await store.setSession('b1', sessionFor(now, { userId: 'bob' }));
        await store.setSession('anon', sessionFor(now));
        expect((await sessionIdsOfUser(store, 'alice')).sort()).toEqual(['a1', 'a2']);
        expect(await sessionIdsOfUser(store, 'bob')).toEqual(['b1']);
        expect(await sessionIdsOfUser(store, 'nobody')).toEqual([]);
        expect(await sessionIdsOfUser(store, '')).toEqual([]);
      });

      it('moves a session that is set again under another user', async () => {
        await store.setSession('s1', sessionFor(now, { userId: 'alice' }));
        await store.setSession('s1', sessionFor(now, { userId: 'bob' }));
        expect(await sessionIdsOfUser(store, 'alice')).toEqual([]);
        expect(await sessionIdsOfUser(store, 'bob')).toEqual(['s1']);
        await store.setSession('s1', sessionFor(now));
        expect(await sessionIdsOfUser(store, 'bob')).toEqual([]);
      });

      it('drops a session from the index on destroy and on expiry', async () => {
        await store.setSession('gone', sessionFor(now, { userId: 'alice' }));
        await store.setSession('expiring', sessionFor(now, { userId: 'alice', ttlMs: 100 }));
        await store.setSession('live', sessionFor(now, { userId: 'alice', ttlMs: 10_000 }));
        await store.destroySession('gone');
        now += 100;
        expect(await sessionIdsOfUser(store, 'alice')).toEqual(['live']);
      });

      it('leaves nothing behind when 1000 sessions expire and are swept', async () => {
        for (let i = 0; i < 1000; i += 1) {
          await store.setSession(
            `s${i}`,
            sessionFor(now, { userId: `user-${i % 100}`, ttlMs: 100 }),
          );
        }
        expect(await sessionIdsOfUser(store, 'user-7')).toHaveLength(10);
        now += 100;
        expect(await store.sweep()).toBe(1000);
        expect(await harness.rawSize(store)).toBe(0);
        expect(await sessionIdsOfUser(store, 'user-7')).toEqual([]);
      });
    });

    describe('destroyUser', () => {
      it('destroys every session of the user and no one else’s', async () => {
        for (const sid of ['a1', 'a2', 'a3']) {
          await store.setSession(sid, sessionFor(now, { userId: 'alice' }));
        }
        await store.setSession('b1', sessionFor(now, { userId: 'bob' }));
        expect(await store.destroyUser('alice')).toBe(3);
        for (const sid of ['a1', 'a2', 'a3']) expect(await store.getSession(sid)).toBeNull();
        expect(await sessionIdsOfUser(store, 'alice')).toEqual([]);
        expect((await store.getSession('b1'))?.user?.id).toBe('bob');
      });

      it('resolves with 0 for a user without sessions', async () => {
        expect(await store.destroyUser('nobody')).toBe(0);
      });

      it('counts only live sessions, and removes the expired ones too', async () => {
        await store.setSession('old', sessionFor(now, { userId: 'alice', ttlMs: 10 }));
        await store.setSession('live', sessionFor(now, { userId: 'alice', ttlMs: 10_000 }));
        now += 10;
        expect(await store.destroyUser('alice')).toBe(1);
        expect(await harness.rawSize(store)).toBe(0);
      });
    });

    describe('concurrency', () => {
      it('loses nothing when 200 sets run at once', async () => {
        await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            i % 2 === 0
              ? store.setSession(`s${i}`, sessionFor(now, { userId: 'alice' }))
              : new Promise<void>((resolve, reject) =>
                  expressStore.set(`s${i}`, sessionFor(now, { userId: 'alice' }), (err) =>
                    err ? reject(err) : resolve(),
                  ),
                ),
          ),
        );
        expect(await store.countSessions()).toBe(200);
        expect(await sessionIdsOfUser(store, 'alice')).toHaveLength(200);
        expect(await store.destroyUser('alice')).toBe(200);
      });
    });

    describe('claimOnce', () => {
      it('grants a key once while the claim lasts, then again after it expires', async () => {
        expect(await store.claimOnce('login-state:abc', 1000)).toBe(true);
        expect(await store.claimOnce('login-state:abc', 1000)).toBe(false);
        expect(await store.claimOnce('login-state:other', 1000)).toBe(true);
        now += 1000;
        expect(await store.claimOnce('login-state:abc', 1000)).toBe(true);
      });

      it('is atomic under concurrent claims', async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, () => store.claimOnce('login-state:race', 1000)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('expired claims are swept', async () => {
        await store.claimOnce('k', 100);
        now += 100;
        expect(await store.sweep()).toBe(1);
        expect(await harness.rawSize(store)).toBe(0);
      });
    });

    describe('lock', () => {
      it('is held by one caller at a time, and free again once released', async () => {
        const release = await store.lock('refresh:s1', 1000);
        expect(release).toBeInstanceOf(Function);
        expect(await store.lock('refresh:s1', 1000)).toBeUndefined();
        await release?.();
        const again = await store.lock('refresh:s1', 1000);
        expect(again).toBeInstanceOf(Function);
        await again?.();
        expect(await harness.rawSize(store)).toBe(0);
      });

      it('expires after ttlMs, so a holder that crashed cannot wedge it', async () => {
        const crashed = await store.lock('refresh:s1', 1000);
        expect(crashed).toBeDefined();
        now += 999;
        expect(await store.lock('refresh:s1', 1000)).toBeUndefined();
        now += 1;
        const next = await store.lock('refresh:s1', 1000);
        expect(next).toBeDefined();
        // The late release of the expired holder must not free the new holder's lock.
        await crashed?.();
        expect(await store.lock('refresh:s1', 1000)).toBeUndefined();
        await next?.();
        expect(await store.lock('refresh:s1', 1000)).toBeDefined();
      });

      it('a release called twice is harmless', async () => {
        const release = await store.lock('k', 1000);
        await release?.();
        const other = await store.lock('k', 1000);
        await release?.();
        expect(await store.lock('k', 1000)).toBeUndefined();
        await other?.();
      });

      it('is atomic under concurrent attempts', async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, () => store.lock('refresh:race', 1000)),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });

      it('keeps keys apart, and apart from claimOnce', async () => {
        expect(await store.claimOnce('k', 1000)).toBe(true);
        expect(await store.lock('k', 1000)).toBeDefined();
        expect(await store.lock('other', 1000)).toBeDefined();
        expect(await store.claimOnce('k', 1000)).toBe(false);
      });

      it('is shared by every user of the store: another store on the same backing sees it', async () => {
        const second = await harness.sameBacking?.(store);
        if (second === undefined) return;
        opened.push(second);
        const release = await store.lock('refresh:s1', 1000);
        expect(await second.lock('refresh:s1', 1000)).toBeUndefined();
        await release?.();
        const theirs = await second.lock('refresh:s1', 1000);
        expect(theirs).toBeDefined();
        expect(await store.lock('refresh:s1', 1000)).toBeUndefined();
        await theirs?.();
      });

      it('expired locks are swept', async () => {
        await store.lock('k', 100);
        now += 100;
        expect(await store.sweep()).toBe(1);
        expect(await harness.rawSize(store)).toBe(0);
      });
    });

    describe('express-session callbacks', () => {
      it('offers no touch, so express-session does not write the store on every request', () => {
        // The gateway rolls the idle expiry itself, coarsely, as a save (server/session/guard.ts).
        expect((expressStore as { touch?: unknown }).touch).toBeUndefined();
      });

      it('calls each callback exactly once, never synchronously', async () => {
        const calls: string[] = [];
        const steps: ((record: (line: string) => void) => void)[] = [
          (record) =>
            expressStore.set('s1', sessionFor(now, { userId: 'u1' }), (err) =>
              record(`set:${String(err)}`),
            ),
          (record) =>
            expressStore.get('s1', (err, sess) => record(`get:${String(err)}:${sess?.user?.id}`)),
          (record) => expressStore.length((err, n) => record(`length:${String(err)}:${n}`)),
          (record) =>
            expressStore.all((err, all) =>
              record(`all:${String(err)}:${Object.keys(all ?? {}).join()}`),
            ),
          (record) => expressStore.destroy('s1', (err) => record(`destroy:${String(err)}`)),
          (record) => expressStore.clear((err) => record(`clear:${String(err)}`)),
        ];
        // One at a time: a listing over several round trips (a Cluster's primaries) is not
        // ordered against a destroy called while it runs, and need not be.
        for (const step of steps) {
          const before = calls.length;
          step((line) => calls.push(line));
          expect(calls).toHaveLength(before);
          await waitFor(() => calls.length > before);
        }
        // A little longer, so that a second call of any callback would show.
        await delay(20);
        expect(calls).toEqual([
          'set:null',
          'get:null:u1',
          'length:null:1',
          'all:null:s1',
          'destroy:null',
          'clear:null',
        ]);
      });

      it('reports failures as StoreUnavailableError (the app maps it to 503)', async () => {
        await store.close();
        const err = await new Promise((resolve) => expressStore.get('s1', (e) => resolve(e)));
        expect(err).toBeInstanceOf(StoreUnavailableError);
        const setErr = await new Promise((resolve) =>
          expressStore.set('s1', sessionFor(now), (e) => resolve(e)),
        );
        expect(setErr).toBeInstanceOf(StoreUnavailableError);
        await expect(store.getSession('s1')).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.destroyUser('u1')).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.lock('k', 1000)).rejects.toBeInstanceOf(StoreUnavailableError);
      });

      it('a release after close resolves: the lock expires on its own', async () => {
        const release = await store.lock('k', 1000);
        await store.close();
        await expect(release?.()).resolves.toBeUndefined();
      });

      it('pings while healthy', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('works as the store of express-session, and destroyUser logs the user out', async () => {
        const app = express();
        app.use(
          session({
            store: expressStore,
            secret: 'contract-test-secret-that-is-long-enough',
            resave: false,
            saveUninitialized: false,
            rolling: true,
            cookie: { maxAge: 60_000, httpOnly: true, sameSite: 'strict' },
          }),
        );
        app.post('/login/:id', (req, res) => {
          req.session.user = { id: req.params.id, name: 'Alice' };
          res.sendStatus(204);
        });
        app.get('/me', (req, res) => {
          res.json({ user: req.session.user ?? null });
        });
        const agent = request.agent(app);
        await agent.post('/login/alice').expect(204);
        await agent.get('/me').expect(200, { user: { id: 'alice', name: 'Alice' } });
        const [sid] = await sessionIdsOfUser(store, 'alice');
        expect(sid).toMatch(/\S{20,}/);
        expect(await store.destroyUser('alice')).toBe(1);
        await agent.get('/me').expect(200, { user: null });
      });
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await delay(5);
  }
}
