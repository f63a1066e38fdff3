import { keySlot, SLOTS } from './key-slot';

/**
 * Session shards. A session's keys carry the hash tag of its shard, and so does the user index
 * entry that lists it, so each atomic step (one script) touches one Cluster slot. A revoke visits
 * every shard of the user: 16 small steps. 16 shards spread evenly over up to 16 primaries.
 */
export const SHARDS = 16;

/**
 * One hash tag per shard, chosen so that shard i's slot lies in the i-th sixteenth of the slot
 * range: `redis-cli --cluster create` gives each primary a contiguous run of slots, so the shards
 * (and the sessions) split evenly between the primaries instead of as the tags' hashes fall.
 */
const TAGS: readonly string[] = (() => {
  const tags: string[] = [];
  for (let shard = 0, n = 0; shard < SHARDS; n += 1) {
    if (Math.floor((keySlot(String(n)) * SHARDS) / SLOTS) === shard) {
      tags.push(String(n));
      shard += 1;
      n = -1;
    }
  }
  return tags;
})();

/** The shard of a session: from its id, so that no lookup is needed to find its keys. */
function shardOf(sid: string): number {
  return keySlot(sid) % SHARDS;
}

// SCAN MATCH takes a glob: a prefix holding * ? [ ] or \ must not match other keys.
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * The store's key layout under `prefix` (docs/redis.md#key-layout):
 *   P{tag}sess:<sid>   HASH data (session JSON), exp (expiry, ms by the store clock), uid ('' for none)
 *   P{tag}user:<uid>   SET of the user's sids in that shard; its TTL covers its longest-lived member
 *   Pclaim:<key>       STRING expiry ms (claimOnce)
 *   Plock:<key>        STRING "<expiry ms>:<token>" (lock)
 *   Pevents            pub/sub channel of session events
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  session(sid: string): string {
    return `${this.prefix}{${TAGS[shardOf(sid)]}}sess:${sid}`;
  }

  /** The index of `userId` in the shard of session `sid` (the one its scripts touch). */
  userOfSession(sid: string, userId: string): string {
    return this.user(shardOf(sid), userId);
  }

  /** The index of `userId` in every shard: all of them together list the user's sessions. */
  userInEveryShard(userId: string): string[] {
    return Array.from({ length: SHARDS }, (_, shard) => this.user(shard, userId));
  }

  claim(key: string): string {
    return `${this.prefix}claim:${key}`;
  }

  lock(key: string): string {
    return `${this.prefix}lock:${key}`;
  }

  get channel(): string {
    return `${this.prefix}events`;
  }

  /** SCAN MATCH patterns of each kind. */
  get sessionPattern(): string {
    return `${globEscape(this.prefix)}{*}sess:*`;
  }

  get userPattern(): string {
    return `${globEscape(this.prefix)}{*}user:*`;
  }

  get claimPattern(): string {
    return `${globEscape(this.prefix)}claim:*`;
  }

  get lockPattern(): string {
    return `${globEscape(this.prefix)}lock:*`;
  }

  /** The sid in a session key, the user id in a user key (what follows `}sess:` or `}user:`). */
  idOf(key: string): string {
    const end = key.indexOf('}', this.prefix.length);
    return key.slice(key.indexOf(':', end) + 1);
  }

  private user(shard: number, userId: string): string {
    return `${this.prefix}{${TAGS[shard]}}user:${userId}`;
  }
}
