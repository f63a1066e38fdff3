import Database from 'better-sqlite3';
import { Cluster, type Redis } from 'ioredis';
import type { SessionRepository } from '../../server/stores/contract';
import { sessionUserId } from '../../server/stores/session-data';
import type { MemoryBacking } from '../../server/stores/memory';

/** The ids of the user's live sessions, from the store's own listing (what a revoke would end). */
export async function sessionIdsOfUser(
  store: SessionRepository,
  userId: string,
): Promise<string[]> {
  const sessions = await store.allSessions();
  return Object.entries(sessions)
    .filter(([, sess]) => sessionUserId(sess) === userId)
    .map(([sid]) => sid);
}

/** What a memory store holds, expired entries included: entries of each map and of the index. */
export function memoryContents(backing: MemoryBacking): {
  sessions: number;
  indexedUsers: number;
  indexedSessions: number;
  claims: number;
  locks: number;
} {
  let indexedSessions = 0;
  for (const sids of backing.sidsByUser.values()) indexedSessions += sids.size;
  return {
    sessions: backing.sessions.size,
    indexedUsers: backing.sidsByUser.size,
    indexedSessions,
    claims: backing.claims.size,
    locks: backing.locks.size,
  };
}

/** Rows in a SQLite store's file (sessions, claims and locks, expired ones included). */
export function sqliteRowCount(file: string): number {
  return sqliteCount(
    file,
    'SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM claims) + (SELECT COUNT(*) FROM locks)',
  );
}

/** Session rows in a SQLite store's file that are in the user index, expired ones included. */
export function sqliteIndexedCount(file: string): number {
  return sqliteCount(file, 'SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL');
}

// A connection of its own, read-only: in WAL mode it sees what the store has committed.
function sqliteCount(file: string, sql: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], number>(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

/**
 * Keys under `prefix` in Redis (expired sessions and index entries included), read with `client`:
 * on a Cluster, those of every primary.
 */
export async function redisKeyCount(client: Redis | Cluster, prefix: string): Promise<number> {
  // SCAN MATCH takes a glob: escaped, a prefix holding * ? [ ] or \ matches only itself.
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let count = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 200);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
  }
  return count;
}
