import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import type { LockRelease, SessionStore } from '../contract';
import { StoreUnavailableError, toStoreUnavailable } from '../errors';
import { liveSession } from '../lazy-expiry';
import { lockRelease } from '../lock-release';
import { silentLogger, type StoreLogger, type StoreOptions } from '../options';
import {
  deserializeSession,
  expiryRule,
  serializeSession,
  sessionUserId,
  type ExpiryRule,
  type SessionData,
} from '../session-data';
import { startSweeper, type Sweeper } from '../sweeper';
import { withTimeout } from '../../core/timeout';

/** Options of the Redis store. */
export interface RedisSessionStoreOptions extends StoreOptions {
  /** `redis://` or `rediss://` URL (REDIS_URL). */
  url: string;
  /** Put before every key, so several gateways (or tests) can share one Redis. Default `tokens-bff:`. */
  keyPrefix?: string;
  /** How long one Redis command may take before the operation fails with StoreUnavailableError. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** How long `connect()` keeps trying before start-up fails. Default 5000 ms. */
  startupTimeoutMs?: number;
  /** Longest wait between reconnect attempts once connected. Default 2000 ms. */
  maxReconnectDelayMs?: number;
  /**
   * How long Redis keeps a key past its expiry by the store's clock. Expiry is decided by that
   * clock on every read, as in the other stores; Redis's own TTL only collects what no one reads
   * again, and this margin keeps it from dropping a key that replicas with slightly later clocks
   * (or a sweep about to count it) still see as live. Default 10000 ms.
   */
  expiryGraceMs?: number;
}

type Reply = string | number | null | Reply[];

/** A Lua script run by SHA (EVALSHA), sent in full once Redis has forgotten it (NOSCRIPT). */
interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

// Key layout under the prefix P (every step that changes a session changes its index entry in
// the same script, so the two cannot drift):
//   P sess:<sid>   HASH data (session JSON), exp (expiry, ms by the store clock), uid ('' for none)
//   P user:<uid>   SET of sids; its TTL is at least that of its longest-lived member
//   P claim:<key>  STRING expiry ms (claimOnce)
//   P lock:<key>   STRING "<expiry ms>:<token>" (lock)
// Keys of other sessions and users are built inside the scripts, so the store needs a single
// Redis (or a primary with replicas), not Redis Cluster.

/** KEYS[1] sess; ARGV prefix, sid, data, exp, px, uid. Writes a session and moves its index entry. */
const SET_SESSION = script(`
local old = redis.call('HGET', KEYS[1], 'uid')
if old and old ~= '' and old ~= ARGV[6] then
  redis.call('SREM', ARGV[1] .. 'user:' .. old, ARGV[2])
end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'exp', ARGV[4], 'uid', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[6] ~= '' then
  local user = ARGV[1] .. 'user:' .. ARGV[6]
  redis.call('SADD', user, ARGV[2])
  if redis.call('PTTL', user) < tonumber(ARGV[5]) then redis.call('PEXPIRE', user, ARGV[5]) end
end
return 1
`);

/** KEYS[1] sess; ARGV prefix, sid, now ('' = whatever its expiry). Deletes a session and its index entry. */
const DESTROY_SESSION = script(`
local v = redis.call('HMGET', KEYS[1], 'exp', 'uid')
if not v[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
if ARGV[3] ~= '' and tonumber(v[1]) > tonumber(ARGV[3]) then return 0 end
redis.call('DEL', KEYS[1])
if v[2] and v[2] ~= '' then redis.call('SREM', ARGV[1] .. 'user:' .. v[2], ARGV[2]) end
return 1
`);

/**
 * ARGV cursor, pattern, count, now, withData. One SCAN page of sessions, read in the same atomic
 * step: { next cursor, key, data, key, data, … } of the live ones (data '' unless asked for).
 */
const SCAN_SESSIONS = script(`
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = { page[1] }
for _, key in ipairs(page[2]) do
  local v = redis.call('HMGET', key, 'exp', 'data')
  if v[1] and tonumber(v[1]) > tonumber(ARGV[4]) then
    out[#out + 1] = key
    out[#out + 1] = ARGV[5] == '1' and v[2] or ''
  end
end
return out
`);

/** KEYS[1] user; ARGV prefix, uid, now. Deletes every session of the user and the set; returns the live count. */
const DESTROY_USER = script(`
local n = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 'sess:' .. sid
  local v = redis.call('HMGET', key, 'exp', 'uid')
  if v[1] and v[2] == ARGV[2] then
    if tonumber(v[1]) > tonumber(ARGV[3]) then n = n + 1 end
    redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[1])
return n
`);

/** KEYS[1] user; ARGV prefix, uid, now, sid… Prunes members (one SSCAN page) whose session is gone or expired. */
const PRUNE_USER = script(`
local n = 0
for i = 4, #ARGV do
  local key = ARGV[1] .. 'sess:' .. ARGV[i]
  local v = redis.call('HMGET', key, 'exp', 'uid')
  if not v[1] or v[2] ~= ARGV[2] then
    redis.call('SREM', KEYS[1], ARGV[i])
  elseif tonumber(v[1]) <= tonumber(ARGV[3]) then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`);

/**
 * KEYS user… (one SCAN page); ARGV prefix, now, most. Prunes sets of at most `most` members here,
 * in one step; returns { sessions deleted, keys of the larger sets (for PRUNE_USER by SSCAN) … }.
 */
const PRUNE_USERS = script(`
local n = 0
local out = { 0 }
local skip = #ARGV[1] + 6
for _, user in ipairs(KEYS) do
  if redis.call('SCARD', user) > tonumber(ARGV[3]) then
    out[#out + 1] = user
  else
    local uid = string.sub(user, skip)
    for _, sid in ipairs(redis.call('SMEMBERS', user)) do
      local key = ARGV[1] .. 'sess:' .. sid
      local v = redis.call('HMGET', key, 'exp', 'uid')
      if not v[1] or v[2] ~= uid then
        redis.call('SREM', user, sid)
      elseif tonumber(v[1]) <= tonumber(ARGV[2]) then
        redis.call('DEL', key)
        redis.call('SREM', user, sid)
        n = n + 1
      end
    end
  end
end
out[1] = n
return out
`);

/** KEYS sess…; ARGV prefix, now. Deletes the expired sessions among KEYS (one SCAN page); returns how many. */
const SWEEP_SESSIONS = script(`
local n = 0
local skip = #ARGV[1] + 6
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'exp', 'uid')
  if not v[1] then
    redis.call('DEL', key)
  elseif tonumber(v[1]) <= tonumber(ARGV[2]) then
    redis.call('DEL', key)
    if v[2] and v[2] ~= '' then
      redis.call('SREM', ARGV[1] .. 'user:' .. v[2], string.sub(key, skip))
    end
    n = n + 1
  end
end
return n
`);

/** KEYS claim/lock…; ARGV now. Deletes the expired ones (value "<expiry>" or "<expiry>:<token>"). */
const SWEEP_EXPIRING = script(`
local n = 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local exp = v and tonumber(string.match(v, '^%d+'))
  if not exp or exp <= tonumber(ARGV[1]) then
    redis.call('DEL', key)
    if exp then n = n + 1 end
  end
end
return n
`);

/** KEYS[1] claim; ARGV now, exp, px. 1 for the first claim, 0 while it lasts. */
const CLAIM = script(`
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

/** KEYS[1] lock; ARGV now, exp, px, token. 1 when taken (free or expired), 0 while another holds it. */
const LOCK = script(`
local v = redis.call('GET', KEYS[1])
if v then
  local exp = tonumber(string.match(v, '^%d+'))
  if exp and exp > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[4], 'PX', ARGV[3])
return 1
`);

/** KEYS[1] lock; ARGV token. Deletes the lock only while it is still this holder's. */
const UNLOCK = script(`
local v = redis.call('GET', KEYS[1])
if v and string.match(v, ':(.*)$') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

const SCRIPTS = [
  SET_SESSION,
  DESTROY_SESSION,
  SCAN_SESSIONS,
  DESTROY_USER,
  PRUNE_USER,
  PRUNE_USERS,
  SWEEP_SESSIONS,
  SWEEP_EXPIRING,
  CLAIM,
  LOCK,
  UNLOCK,
];

/** Keys per SCAN/SSCAN page: each page is one short script, so Redis is never blocked for long. */
const PAGE = 200;

/**
 * The session store for many replicas (SESSION_STORE=redis), on one Redis connection. Every
 * operation fails with StoreUnavailableError within about `commandTimeoutMs` while Redis is down
 * or slow (no command is queued for later); the connection comes back by itself.
 */
export class RedisSessionStore implements SessionStore {
  private readonly clock: () => number;
  private readonly logger: StoreLogger;
  private readonly expiresAt: ExpiryRule;
  private readonly client: ReturnType<typeof createClient>;
  private readonly prefix: string;
  private readonly target: string;
  private readonly commandTimeoutMs: number;
  private readonly startupTimeoutMs: number;
  private readonly maxReconnectDelayMs: number;
  private readonly expiryGraceMs: number;
  private readonly sweepIntervalMs: number | undefined;
  private sweeper: Sweeper | undefined;
  private connectStartedAt = 0;
  private everReady = false;
  private down = false;
  private closed = false;

  /** Builds the store; nothing is connected until `connect()`. */
  constructor(options: RedisSessionStoreOptions) {
    this.clock = options.clock ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.expiresAt = expiryRule(options);
    this.prefix = options.keyPrefix ?? 'tokens-bff:';
    this.target = describeTarget(options.url);
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.startupTimeoutMs = options.startupTimeoutMs ?? 5000;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 2000;
    this.expiryGraceMs = options.expiryGraceMs ?? 10_000;
    this.sweepIntervalMs = options.sweepIntervalMs;
    this.client = createClient({
      url: options.url,
      // Without this, node-redis holds commands while disconnected and answers them whenever
      // Redis is back: requests would hang instead of getting their 503 within 2 s
      // (docs/contract.md#upstream-and-store-failures).
      disableOfflineQueue: true,
      socket: {
        connectTimeout: Math.max(this.commandTimeoutMs, 1000),
        reconnectStrategy: (retries) => this.reconnectDelay(retries),
      },
    });
    // node-redis emits 'error' on every failed attempt; unhandled, it would end the process.
    this.client.on('error', (err: unknown) => {
      if (this.down || this.closed) return;
      this.down = true;
      if (this.everReady) {
        this.logger.warn(
          { err, redis: this.target },
          'session store: Redis connection lost; reconnecting',
        );
      }
    });
    this.client.on('ready', () => {
      // Loaded before any other command on this connection (a restarted Redis has forgotten
      // them): a NOSCRIPT retry would cost a round trip and let later commands overtake.
      for (const s of SCRIPTS) {
        this.client.sendCommand(['SCRIPT', 'LOAD', s.source]).catch(() => undefined);
      }
      if (this.down && this.everReady) {
        this.logger.warn({ redis: this.target }, 'session store: Redis connection restored');
      }
      this.down = false;
      this.everReady = true;
    });
  }

  /**
   * Connects, retrying for up to `startupTimeoutMs`; rejects with a StoreUnavailableError whose
   * message names the Redis (never its password) when it cannot. Starts the sweep timer.
   */
  async connect(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('session store is closed');
    this.connectStartedAt = performance.now();
    try {
      await this.client.connect();
    } catch (err) {
      this.closed = true;
      // node-redis reports the last socket error beside the reason the retries stopped.
      const cause = (err as { socketError?: unknown }).socketError ?? err;
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new StoreUnavailableError(`cannot connect to Redis at ${this.target}: ${reason}`, {
        cause,
      });
    }
    // close() during the first attempts ends the attempts, and connect() with them.
    if (this.closed) throw new StoreUnavailableError('session store is closed');
    this.sweeper = startSweeper(() => this.sweep(), this.sweepIntervalMs, this.logger);
  }

  async getSession(sid: string): Promise<SessionData | null> {
    const now = this.clock();
    const [data, exp] = (await this.call(['HMGET', this.sessKey(sid), 'data', 'exp'])) as [
      string | null,
      string | null,
    ];
    if (data === null || exp === null) return null;
    // A session left behind is also dropped by Redis a grace period after its expiry.
    return liveSession({ data, expiresAt: Number(exp) }, now, (expiredBy) =>
      this.eval(
        DESTROY_SESSION,
        [this.sessKey(sid)],
        [this.prefix, sid, expiredBy === undefined ? '' : String(expiredBy)],
      ),
    );
  }

  async setSession(sid: string, sess: SessionData): Promise<void> {
    const expiresAt = this.expiresAt(sess, this.clock());
    await this.eval(
      SET_SESSION,
      [this.sessKey(sid)],
      [
        this.prefix,
        sid,
        serializeSession(sess),
        String(expiresAt),
        String(this.pxFor(expiresAt)),
        sessionUserId(sess) ?? '',
      ],
    );
  }

  async destroySession(sid: string): Promise<boolean> {
    return (await this.eval(DESTROY_SESSION, [this.sessKey(sid)], [this.prefix, sid, ''])) === 1;
  }

  async allSessions(): Promise<Record<string, SessionData>> {
    const result: Record<string, SessionData> = {};
    const skip = this.prefix.length + 'sess:'.length;
    await this.scanSessions(true, (key, data) => {
      const sess = deserializeSession(data);
      if (sess) result[key.slice(skip)] = sess;
    });
    return result;
  }

  async countSessions(): Promise<number> {
    let count = 0;
    await this.scanSessions(false, () => {
      count += 1;
    });
    return count;
  }

  async clearSessions(): Promise<void> {
    for (const kind of ['sess:', 'user:']) {
      await this.scanKeys(`${globEscape(this.prefix)}${kind}*`, async (keys) => {
        await this.call(['UNLINK', ...keys]);
      });
    }
  }

  async destroyUser(userId: string): Promise<number> {
    if (userId === '') return 0;
    const destroyed = await this.eval(
      DESTROY_USER,
      [this.userKey(userId)],
      [this.prefix, userId, String(this.clock())],
    );
    return destroyed as number;
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    const claimed = await this.eval(
      CLAIM,
      [this.key('claim:', key)],
      [String(now), String(now + ttlMs), String(this.pxFor(now + ttlMs))],
    );
    return claimed === 1;
  }

  async lock(key: string, ttlMs: number): Promise<LockRelease | undefined> {
    const now = this.clock();
    const lockKey = this.key('lock:', key);
    // The token tells this holder's lock from a later one taken after this one expired.
    const token = randomUUID();
    const taken = await this.eval(
      LOCK,
      [lockKey],
      [String(now), String(now + ttlMs), String(this.pxFor(now + ttlMs)), token],
    );
    if (taken !== 1) return undefined;
    return lockRelease(() => this.eval(UNLOCK, [lockKey], [token]), this.logger);
  }

  async sweep(): Promise<number> {
    const now = String(this.clock());
    const prefix = globEscape(this.prefix);
    let removed = 0;
    await this.scanKeys(`${prefix}sess:*`, async (keys) => {
      removed += (await this.eval(SWEEP_SESSIONS, keys, [this.prefix, now])) as number;
    });
    // Members whose session Redis expired by itself: small sets a page at a time, large ones
    // (rare: one user, many sessions) by SSCAN, so no single step holds Redis for long.
    const skip = this.prefix.length + 'user:'.length;
    await this.scanKeys(`${prefix}user:*`, async (keys) => {
      const [pruned, ...large] = (await this.eval(PRUNE_USERS, keys, [
        this.prefix,
        now,
        String(PAGE),
      ])) as [number, ...string[]];
      removed += pruned;
      for (const userKey of large) {
        const userId = userKey.slice(skip);
        await this.scanMembers(userKey, async (sids) => {
          const pruned = await this.eval(
            PRUNE_USER,
            [userKey],
            [this.prefix, userId, now, ...sids],
          );
          removed += pruned as number;
        });
      }
    });
    for (const kind of ['claim:', 'lock:']) {
      await this.scanKeys(`${prefix}${kind}*`, async (keys) => {
        removed += (await this.eval(SWEEP_EXPIRING, keys, [now])) as number;
      });
    }
    return removed;
  }

  async ping(): Promise<void> {
    await this.call(['PING']);
  }

  async close(): Promise<void> {
    if (this.closed && !this.client.isOpen) return;
    this.closed = true;
    this.sweeper?.stop();
    try {
      if (this.client.isReady) {
        await withTimeout(this.client.quit(), this.commandTimeoutMs, () => this.timedOut());
      } else if (this.client.isOpen) {
        // Down or reconnecting: stop the reconnect loop instead of waiting for Redis.
        await this.client.disconnect();
      }
    } catch {
      // Closing is best effort: the connection is abandoned either way.
    }
  }

  private reconnectDelay(retries: number): number | Error {
    if (this.closed) return new Error('session store is closed');
    if (!this.everReady && performance.now() - this.connectStartedAt >= this.startupTimeoutMs) {
      return new Error(`gave up after ${this.startupTimeoutMs} ms`);
    }
    // Exponential backoff with jitter, so replicas do not reconnect in lockstep.
    const base = Math.min(50 * 2 ** Math.min(retries, 10), this.maxReconnectDelayMs);
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  // The key's TTL in Redis: the store's own expiry decides, Redis collects a grace period later.
  private pxFor(expiresAt: number): number {
    return Math.max(expiresAt - this.clock(), 0) + this.expiryGraceMs;
  }

  private timedOut(): StoreUnavailableError {
    return new StoreUnavailableError(`Redis did not answer within ${this.commandTimeoutMs} ms`);
  }

  private key(kind: string, id: string): string {
    return `${this.prefix}${kind}${id}`;
  }

  private sessKey(sid: string): string {
    return this.key('sess:', sid);
  }

  private userKey(userId: string): string {
    return this.key('user:', userId);
  }

  // Sends one command, failing with StoreUnavailableError when the store is closed, Redis is
  // offline (at once) or does not answer within commandTimeoutMs. The command is handed to the
  // connection synchronously, so operations reach Redis in the order they were called.
  private call(args: string[]): Promise<Reply> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('session store is closed'));
    let sent: Promise<Reply>;
    try {
      sent = this.client.sendCommand<Reply>(args);
    } catch (err) {
      sent = Promise.reject(err);
    }
    return withTimeout(sent, this.commandTimeoutMs, () => this.timedOut()).catch((err: unknown) => {
      throw toStoreUnavailable(err, 'session store (Redis) is unavailable');
    });
  }

  private async eval(s: Script, keys: string[], args: string[]): Promise<Reply> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.call(['EVALSHA', s.sha, ...tail]);
    } catch (err) {
      // A restarted (or flushed) Redis has forgotten the script: send it in full once.
      const message = (err as { cause?: { message?: unknown } }).cause?.message;
      if (typeof message !== 'string' || !message.startsWith('NOSCRIPT')) throw err;
      return this.call(['EVAL', s.source, ...tail]);
    }
  }

  private async scanSessions(
    withData: boolean,
    visit: (key: string, data: string) => void,
  ): Promise<void> {
    const pattern = `${globEscape(this.prefix)}sess:*`;
    const now = String(this.clock());
    let cursor = '0';
    do {
      const page = (await this.eval(
        SCAN_SESSIONS,
        [],
        [cursor, pattern, String(PAGE), now, withData ? '1' : '0'],
      )) as string[];
      cursor = page[0] ?? '0';
      for (let i = 1; i + 1 < page.length; i += 2) visit(page[i] as string, page[i + 1] as string);
    } while (cursor !== '0');
  }

  private async scanKeys(pattern: string, visit: (keys: string[]) => Promise<void>): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = (await this.call([
        'SCAN',
        cursor,
        'MATCH',
        pattern,
        'COUNT',
        String(PAGE),
      ])) as [string, string[]];
      cursor = next;
      if (keys.length > 0) await visit(keys);
    } while (cursor !== '0');
  }

  private async scanMembers(
    key: string,
    visit: (members: string[]) => Promise<void>,
  ): Promise<void> {
    let cursor = '0';
    do {
      const [next, members] = (await this.call(['SSCAN', key, cursor, 'COUNT', String(PAGE)])) as [
        string,
        string[],
      ];
      cursor = next;
      if (members.length > 0) await visit(members);
    } while (cursor !== '0');
  }
}

// Names the Redis in messages and logs without its credentials or database path.
function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return 'the configured REDIS_URL';
  }
}

// SCAN MATCH takes a glob: a prefix holding * ? [ ] or \ must not match other keys.
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
