import { MemorySessionStore } from '../server/stores/memory';
import { describeSessionStoreContract, sessionFor } from './support/session-store-contract';

function rawTotal(store: MemorySessionStore): number {
  const { sessions, indexedUsers, indexedSessions, claims, locks } = store.rawSize();
  return sessions + indexedUsers + indexedSessions + claims + locks;
}

describeSessionStoreContract('MemorySessionStore', {
  create: (options) => new MemorySessionStore(options),
  rawSize: (store) => rawTotal(store as MemorySessionStore),
});

describe('MemorySessionStore', () => {
  it('keeps the user index in step with the sessions through every change', async () => {
    let now = 1_000_000;
    const store = new MemorySessionStore({ clock: () => now, sweepIntervalMs: 0 });
    await store.setSession('a', sessionFor(now, { userId: 'alice', ttlMs: 100 }));
    await store.setSession('b', sessionFor(now, { userId: 'alice', ttlMs: 200 }));
    await store.setSession('a', sessionFor(now, { userId: 'bob', ttlMs: 100 }));
    expect(store.rawSize()).toEqual({
      sessions: 2,
      indexedUsers: 2,
      indexedSessions: 2,
      claims: 0,
      locks: 0,
    });
    now += 100;
    expect(await store.sessionIdsOfUser('bob')).toEqual([]);
    expect(store.rawSize()).toEqual({
      sessions: 1,
      indexedUsers: 1,
      indexedSessions: 1,
      claims: 0,
      locks: 0,
    });
    await store.destroySession('b');
    expect(store.rawSize()).toEqual({
      sessions: 0,
      indexedUsers: 0,
      indexedSessions: 0,
      claims: 0,
      locks: 0,
    });
    await store.close();
  });
});
