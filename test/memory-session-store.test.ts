import { MemorySessionStore, memoryBacking, type MemoryBacking } from '../server/stores/memory';
import { describeSessionStoreContract, sessionFor } from './support/session-store-contract';
import { memoryContents, sessionIdsOfUser } from './support/store-contents';

const backingOf = new WeakMap<object, MemoryBacking>();

function rawTotal(store: object): number {
  const backing = backingOf.get(store) as MemoryBacking;
  const { sessions, indexedUsers, indexedSessions, claims, locks } = memoryContents(backing);
  return sessions + indexedUsers + indexedSessions + claims + locks;
}

describeSessionStoreContract('MemorySessionStore', {
  create: (options) => {
    const backing = memoryBacking();
    const store = new MemorySessionStore({ ...options, backing });
    backingOf.set(store, backing);
    return store;
  },
  rawSize: rawTotal,
});

describe('MemorySessionStore', () => {
  it('keeps the user index in step with the sessions through every change', async () => {
    let now = 1_000_000;
    const backing = memoryBacking();
    const store = new MemorySessionStore({ clock: () => now, sweepIntervalMs: 0, backing });
    await store.setSession('a', sessionFor(now, { userId: 'alice', ttlMs: 100 }));
    await store.setSession('b', sessionFor(now, { userId: 'alice', ttlMs: 200 }));
    await store.setSession('a', sessionFor(now, { userId: 'bob', ttlMs: 100 }));
    expect(memoryContents(backing)).toEqual({
      sessions: 2,
      indexedUsers: 2,
      indexedSessions: 2,
      claims: 0,
      locks: 0,
    });
    now += 100;
    expect(await sessionIdsOfUser(store, 'bob')).toEqual([]);
    expect(memoryContents(backing)).toEqual({
      sessions: 1,
      indexedUsers: 1,
      indexedSessions: 1,
      claims: 0,
      locks: 0,
    });
    await store.destroySession('b');
    expect(memoryContents(backing)).toEqual({
      sessions: 0,
      indexedUsers: 0,
      indexedSessions: 0,
      claims: 0,
      locks: 0,
    });
    await store.close();
  });
});
