import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { mintToken, userOfTokenId } from './bench-tokens';

/**
 * Live sessions for the bench, written straight into a gateway's store with the product's own
 * modules from the dist being measured (its config loader, token vault and store classes), so
 * 100 000 sessions take seconds instead of 100 000 logins. Run as a child process by
 * bench/run.ts: `node seed-sessions.js '<json SeedJob>'`, which prints one JSON line.
 *
 * Mode `seed` writes `count` sessions and their cookies (one `name=value` line each) to
 * `cookiesFile`. Mode `inspect` reads the session `sid` a real login made and compares its shape
 * with a seeded one's, so a change of the session's shape in server/ shows up as a warning
 * instead of a bench that measures sessions the gateway no longer makes.
 */

/** The token set a session holds (server/genesys/client.ts TokenSet). */
export interface SeedTokenSet {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  readonly expiresAt: number;
}

/** The stored form of a session, as express-session hands it to the store. */
export interface SeededSession {
  cookie: {
    originalMaxAge: number;
    expires: string;
    secure: boolean;
    httpOnly: true;
    path: '/';
    sameSite: 'strict' | 'lax';
  };
  user: { id: string; name: string };
  createdAt: number;
  lastSeenAt: number;
  /** The login's browser summary (server/session/user-agent.ts); the bench's loader sends none. */
  userAgent: string;
  tokens: string;
  tokenExpiresAt: number;
}

/**
 * THE one place that knows what a logged-in session looks like. It mirrors server/session/guard.ts
 * `establish` (user, createdAt, lastSeenAt, then server/session/token-refresh.ts `keepTokens`: the sealed token
 * set and tokenExpiresAt, then the expiry: idle timeout, never past the absolute end nor past a
 * token that cannot be refreshed) plus express-session's cookie as app.ts configures it (path /,
 * httpOnly, secure, sameSite, maxAge), in the key order a real session serialises in. The
 * server's session shape may change: when it does, change this function; `npm run bench` warns
 * when a real login's session and a seeded one differ (mode `inspect`). A field an older build
 * does not know (lastSeenAt, for builds before the coarse idle roll) is ignored by it.
 */
export function seededSessionRecord(input: {
  readonly user: { readonly id: string; readonly name: string };
  readonly tokens: SeedTokenSet;
  /** vault.seal(JSON.stringify(tokens)) */
  readonly sealed: string;
  readonly now: number;
  readonly idleTimeoutSeconds: number;
  readonly absoluteTimeoutSeconds: number;
  readonly secure: boolean;
  readonly sameSite: 'strict' | 'lax';
}): SeededSession {
  const { tokens, now } = input;
  // The expiry: the idle timeout, never past the absolute end nor a token that cannot be refreshed.
  const absoluteEnd = now + input.absoluteTimeoutSeconds * 1000;
  const end =
    tokens.refreshToken === undefined ? Math.min(absoluteEnd, tokens.expiresAt) : absoluteEnd;
  const idleMs = input.idleTimeoutSeconds * 1000;
  const maxAge = end - now < idleMs ? Math.max(end - now, 1000) : idleMs;
  return {
    cookie: {
      originalMaxAge: maxAge,
      expires: new Date(now + maxAge).toISOString(),
      secure: input.secure,
      httpOnly: true,
      path: '/',
      sameSite: input.sameSite,
    },
    user: { id: input.user.id, name: input.user.name },
    createdAt: now,
    lastSeenAt: now,
    userAgent: 'Unknown browser',
    tokens: input.sealed,
    tokenExpiresAt: tokens.expiresAt,
  };
}

/** The session cookie's value as express-session sets it: `s:` + cookie-signature's sign, URI-encoded. */
export function signedCookieValue(sid: string, secret: string): string {
  const mac = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${sid}.${mac}`);
}

/** The session id inside a session cookie's value (no signature check). */
export function sidOfCookieValue(value: string): string | undefined {
  const decoded = decodeURIComponent(value);
  const dot = decoded.lastIndexOf('.');
  return decoded.startsWith('s:') && dot > 2 ? decoded.slice(2, dot) : undefined;
}

export interface SeedJob {
  readonly mode: 'seed' | 'inspect';
  /** The `dist` folder of the build being measured (its server/ and config/ are used). */
  readonly distRoot: string;
  /** The gateway's environment: the same keys, cookie name and store as the process. */
  readonly env: Readonly<Record<string, string>>;
  /** base64 HMAC key of the lean upstream's tokens. */
  readonly tokenKey: string;
  /** seed: how many sessions, their token-id prefix and where the cookies go. */
  readonly count?: number;
  readonly tag?: string;
  readonly cookiesFile?: string;
  /** inspect: the session a real login made. */
  readonly sid?: string;
}

export interface SeedResult {
  readonly count: number;
  readonly seconds: number;
}

export interface InspectResult {
  readonly same: boolean;
  /** Paths (`cookie.expires`, `tokens (opened).refreshToken`) a real session has and a seeded one lacks… */
  readonly missing: readonly string[];
  /** …and the other way round. */
  readonly extra: readonly string[];
  /** Paths both have, with different types. */
  readonly differentType: readonly string[];
}

/** What the bench uses of a dist's modules; typed here so older builds can be loaded too. */
interface ProductConfig {
  readonly secureCookies: boolean;
  readonly session: {
    readonly secrets: readonly string[];
    readonly store: string;
    readonly sqlitePath: string;
    readonly redisUrl: string | undefined;
    readonly idleTimeoutSeconds: number;
    readonly absoluteTimeoutSeconds: number;
    readonly cookieSameSite: 'strict' | 'lax';
    readonly cookieName: string;
  };
  readonly tokenEncryptionKeys: readonly Buffer[];
}

interface ProductStore {
  setSession(sid: string, sess: object): Promise<void>;
  getSession(sid: string): Promise<Record<string, unknown> | null>;
  close(): Promise<void>;
  connect?(): Promise<void>;
}

type StoreClass = new (options: Record<string, unknown>) => ProductStore;

interface Product {
  readonly config: ProductConfig;
  readonly vault: { seal(plain: string): string; open(sealed: string): string };
  openStore(): Promise<ProductStore>;
}

/** Where a build's dist keeps what the seeder loads: server/ in rooms, or flat (older builds). */
const LAYOUTS = [
  {
    vault: 'server/session/token-vault.js',
    sqlite: 'server/stores/sqlite/store.js',
    redis: 'server/stores/redis/store.js',
  },
  {
    vault: 'server/token-vault.js',
    sqlite: 'server/sqlite-session-store.js',
    redis: 'server/redis-session-store.js',
  },
] as const;

type Layout = (typeof LAYOUTS)[number];

/** The layout of the dist at `distRoot`: the first whose token vault is there. */
function layoutOf(distRoot: string): Layout {
  return LAYOUTS.find((l) => fs.existsSync(path.join(distRoot, l.vault))) ?? LAYOUTS[0];
}

/**
 * The dist's modules seeding a store of `kind` needs, in the layout of the dist at `distRoot`
 * (the current layout without one).
 */
export function productModules(kind: 'sqlite' | 'redis', distRoot?: string): string[] {
  const layout = distRoot === undefined ? LAYOUTS[0] : layoutOf(distRoot);
  return ['config/load-config.js', layout.vault, layout[kind]];
}

function loadProduct(job: SeedJob): Product {
  const load = createRequire(__filename);
  const mod = (file: string): Record<string, unknown> =>
    load(path.join(job.distRoot, file)) as Record<string, unknown>;
  const { loadConfig } = mod('config/load-config.js') as {
    loadConfig: (env: Record<string, string>) => ProductConfig;
  };
  const layout = layoutOf(job.distRoot);
  const { createTokenVault } = mod(layout.vault) as {
    createTokenVault: (keys: readonly Buffer[]) => Product['vault'];
  };
  const config = loadConfig({ ...job.env });
  const vault = createTokenVault(config.tokenEncryptionKeys);
  const lifetimes = {
    defaultTtlMs: config.session.idleTimeoutSeconds * 1000,
    absoluteTimeoutMs: config.session.absoluteTimeoutSeconds * 1000,
    // No sweeps from the seeder: it only writes.
    sweepIntervalMs: 0,
  };
  return {
    config,
    vault,
    async openStore() {
      if (config.session.store === 'sqlite') {
        const { SqliteSessionStore } = mod(layout.sqlite) as {
          SqliteSessionStore: StoreClass;
        };
        return new SqliteSessionStore({ path: config.session.sqlitePath, ...lifetimes });
      }
      if (config.session.store === 'redis') {
        const { RedisSessionStore } = mod(layout.redis) as {
          RedisSessionStore: StoreClass;
        };
        const store = new RedisSessionStore({ url: config.session.redisUrl, ...lifetimes });
        await store.connect?.();
        return store;
      }
      throw new Error(`cannot seed SESSION_STORE=${config.session.store}`);
    },
  };
}

/** A session of the `i`-th seeded user: its record, its id and its cookie line. */
function makeSession(
  product: Product,
  key: Buffer,
  tag: string,
  i: number,
  now: number,
): { sid: string; record: SeededSession; cookie: string } {
  const { config, vault } = product;
  const id = `${tag}${i.toString(36)}-1`;
  const tokens: SeedTokenSet = {
    accessToken: mintToken(key, 'bench', id),
    refreshToken: mintToken(key, 'benchr', id),
    // What the upstream's expires_in of 86 400 s gives at login.
    expiresAt: now + 86_400_000,
  };
  const record = seededSessionRecord({
    user: userOfTokenId(id),
    tokens,
    sealed: vault.seal(JSON.stringify(tokens)),
    now,
    idleTimeoutSeconds: config.session.idleTimeoutSeconds,
    absoluteTimeoutSeconds: config.session.absoluteTimeoutSeconds,
    secure: config.secureCookies,
    sameSite: config.session.cookieSameSite,
  });
  // 256 bits from the CSPRNG, as app.ts's genid.
  const sid = randomBytes(32).toString('base64url');
  const secret = config.session.secrets[0] as string;
  return { sid, record, cookie: `${config.session.cookieName}=${signedCookieValue(sid, secret)}` };
}

/** In flight at once against Redis: node-redis pipelines what is issued together. */
const REDIS_BATCH = 250;
/** Sessions per SQLite transaction. */
const SQLITE_BATCH = 5000;

/**
 * Runs `body` in one transaction of the SQLite store's own connection, when its handle (a private
 * field of server/stores/sqlite/watchdog.ts, on the store's `database`; on the store itself in
 * older builds) is where this expects it: one commit per batch instead of one per session, about
 * 3× faster for 100 000 sessions. When the field moved, undefined: the seeding still works, one
 * autocommit per session.
 */
function sqliteTransaction(store: ProductStore): ((body: () => void) => void) | undefined {
  const owner = (store as { database?: object }).database ?? store;
  const db = (owner as { handle?: { db?: { transaction?: unknown } } }).handle?.db;
  if (typeof db?.transaction !== 'function') return undefined;
  const transaction = db.transaction as (fn: () => void) => () => void;
  return (body) => transaction.call(db, body)();
}

async function seed(job: SeedJob): Promise<SeedResult> {
  const product = loadProduct(job);
  const key = Buffer.from(job.tokenKey, 'base64');
  const count = job.count ?? 0;
  const started = process.hrtime.bigint();
  const store = await product.openStore();
  const out = fs.openSync(job.cookiesFile as string, 'w');
  try {
    const now = Date.now();
    const transaction = sqliteTransaction(store);
    const batch = product.config.session.store === 'redis' ? REDIS_BATCH : SQLITE_BATCH;
    for (let i = 0; i < count; i += batch) {
      const sessions: ReturnType<typeof makeSession>[] = [];
      for (let j = i; j < Math.min(count, i + batch); j += 1) {
        sessions.push(makeSession(product, key, job.tag ?? 's', j, now));
      }
      let written: Promise<void>[] = [];
      // The store's own setSession either way. Redis: one batch in flight at a time, which
      // node-redis pipelines. SQLite: better-sqlite3 is synchronous, so each setSession has
      // written its row before it returns its promise, and a batch fits in one transaction.
      const writeAll = (): void => {
        written = sessions.map((s) => store.setSession(s.sid, s.record));
      };
      if (transaction) transaction(writeAll);
      else writeAll();
      await Promise.all(written);
      fs.writeSync(out, `${sessions.map((s) => s.cookie).join('\n')}\n`);
    }
  } finally {
    fs.closeSync(out);
    await store.close();
  }
  return { count, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Keys and value types, recursively: what must agree between a real and a seeded session. */
function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return ['array'];
  if (typeof value !== 'object') return typeof value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, shapeOf((value as Record<string, unknown>)[k])]),
  );
}

/** `{a: {b: 'number'}}` → Map { 'a.b' => 'number' } */
function flatten(
  shape: unknown,
  prefix = '',
  into = new Map<string, string>(),
): Map<string, string> {
  if (typeof shape === 'object' && shape !== null && !Array.isArray(shape)) {
    for (const [k, v] of Object.entries(shape)) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else {
    into.set(prefix, JSON.stringify(shape));
  }
  return into;
}

/** The shape of a session, its sealed token set opened (so the token set's shape counts too). */
function sessionShape(product: Product, sess: Record<string, unknown>): unknown {
  const sealed = sess.tokens;
  let tokens: unknown = 'unreadable';
  if (typeof sealed === 'string') {
    try {
      tokens = JSON.parse(product.vault.open(sealed)) as unknown;
    } catch {
      // left as 'unreadable'
    }
  }
  return { ...(shapeOf(sess) as object), 'tokens (opened)': shapeOf(tokens) };
}

async function inspect(job: SeedJob): Promise<InspectResult> {
  const product = loadProduct(job);
  const key = Buffer.from(job.tokenKey, 'base64');
  const store = await product.openStore();
  try {
    const real = await store.getSession(job.sid as string);
    if (real === null) throw new Error(`inspect: no session ${String(job.sid)} in the store`);
    // Through JSON, as the store would hand a seeded record back.
    const seeded = JSON.parse(
      JSON.stringify(makeSession(product, key, 'inspect', 0, Date.now()).record),
    ) as Record<string, unknown>;
    const realPaths = flatten(sessionShape(product, real));
    const seededPaths = flatten(sessionShape(product, seeded));
    const missing = [...realPaths.keys()].filter((k) => !seededPaths.has(k));
    const extra = [...seededPaths.keys()].filter((k) => !realPaths.has(k));
    const differentType = [...realPaths.keys()].filter(
      (k) => seededPaths.has(k) && seededPaths.get(k) !== realPaths.get(k),
    );
    return {
      same: missing.length + extra.length + differentType.length === 0,
      missing,
      extra,
      differentType,
    };
  } finally {
    await store.close();
  }
}

if (require.main === module) {
  const job = JSON.parse(process.argv[2] ?? '{}') as SeedJob;
  (job.mode === 'inspect' ? inspect(job) : seed(job)).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`seed-sessions: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
