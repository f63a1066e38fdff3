import net from 'node:net';
import { z } from 'zod';
import { redisRules } from './redis-rules';
import { resolveRegion, UNKNOWN_REGION_MESSAGE } from './regions';
import type { LogLevel, SessionStoreKind } from './types';

/** What the README says about one variable; kept beside its schema so the two cannot drift. */
export interface VariableDoc {
  /** The default as shown in the README table (markdown), e.g. "`3000`" or "— (required)". */
  readonly default: string;
  /** One line: what the variable does. */
  readonly meaning: string;
  /** Secrets may be given as NAME_FILE instead, and their values never appear in a message. */
  readonly secret?: boolean;
}

/** Registry of the per-variable docs; config-docs.ts turns it into the README table. */
export const variableDocs = z.registry<VariableDoc>();

/** A parser's refusal; its message becomes the `reason` of one problem line. */
class Invalid {
  constructor(readonly message: string) {}
}

function invalid(message: string): Invalid {
  return new Invalid(message);
}

// Every variable arrives as a string (or not at all); loadConfig has already turned empty
// strings into "unset", so `FOO=` in a compose file means the default, not an error.
const envString = z.string({
  error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string'),
});

/** A string variable turned into T by `parse`, which returns the value or an Invalid. */
function parsed<T>(parse: (raw: string) => T | Invalid) {
  return envString.transform((raw, ctx): T => {
    const result = parse(raw);
    if (result instanceof Invalid) {
      // No `input` on purpose: issues must never carry a secret's value anywhere.
      ctx.issues.push({ code: 'custom', message: result.message, input: undefined });
      return z.NEVER;
    }
    return result;
  });
}

type EnvSchema<T> = ReturnType<typeof parsed<T>>;

function required<T>(schema: EnvSchema<T>, meaning: string, secret = false) {
  return schema.register(variableDocs, { default: '— (required)', meaning, secret });
}

function defaulted<T>(schema: EnvSchema<T>, value: string, meaning: string) {
  // prefault (not default) so that the default goes through the same parser as a real value.
  return schema.prefault(value).register(variableDocs, { default: `\`${value}\``, meaning });
}

function optional<T>(schema: EnvSchema<T>, meaning: string, defaultText = '—', secret = false) {
  return schema.optional().register(variableDocs, { default: defaultText, meaning, secret });
}

const text = () => parsed((raw) => raw.trim() || invalid('must not be blank'));

const integerBetween = (min: number, max: number) =>
  parsed((raw) => {
    const value = Number(raw.trim());
    return /^\s*\d+\s*$/.test(raw) && value >= min && value <= max
      ? value
      : invalid(`must be an integer between ${min} and ${max}`);
  });

const positiveInteger = () =>
  parsed((raw) => {
    const value = Number(raw.trim());
    return /^\s*\d+\s*$/.test(raw) && value > 0 && Number.isSafeInteger(value)
      ? value
      : invalid('must be a positive integer');
  });

const TRUE_WORDS = ['true', '1', 'yes'];
const FALSE_WORDS = ['false', '0', 'no'];

const boolean = () =>
  parsed((raw) => {
    const word = raw.trim().toLowerCase();
    if (TRUE_WORDS.includes(word)) return true;
    if (FALSE_WORDS.includes(word)) return false;
    return invalid('must be true or false (1/0 and yes/no also work)');
  });

const oneOf = <T extends string>(values: readonly T[]) =>
  parsed((raw): T | Invalid => {
    const word = raw.trim().toLowerCase();
    return values.find((v) => v === word) ?? invalid(`must be one of ${values.join(', ')}`);
  });

/** Names entry positions (1-based) for a message: "entry 2 has 12" / "entries 1 and 3 are not". */
function entryList(positions: readonly number[]): string {
  if (positions.length === 1) return `entry ${positions[0]}`;
  return `entries ${positions.slice(0, -1).join(', ')} and ${positions[positions.length - 1]}`;
}

/** Splits a comma list into trimmed entries; an empty entry is kept so that it is reported. */
function commaList(raw: string): string[] {
  return raw.split(',').map((entry) => entry.trim());
}

/** localhost, 127.0.0.0/8 or [::1]: the only hosts where plain http stays on the machine. */
export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

function parseHttpUrl(raw: string): URL | undefined {
  try {
    const url = new URL(raw.trim());
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

const publicBaseUrl = () =>
  parsed((raw) => {
    const url = parseHttpUrl(raw);
    if (!url) return invalid('must be an absolute http(s) URL, e.g. https://app.example.com');
    if (url.username || url.password) return invalid('must not contain credentials');
    if (url.pathname !== '/' || /[?#]/.test(raw)) {
      return invalid(
        'must be an origin without path, query or fragment, e.g. https://app.example.com',
      );
    }
    // RFC 10017: the session cookie is the user's credential; over plain http any network hop
    // could read it. Loopback is the one exception, for local development and the demo.
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      return invalid(
        'must use https unless the host is loopback (over plain http the session cookie would travel in clear)',
      );
    }
    return url.origin;
  });

const genesysBaseUrl = () =>
  parsed((raw) => {
    const url = parseHttpUrl(raw);
    if (!url) return invalid('must be an absolute http(s) URL');
    if (url.username || url.password) return invalid('must not contain credentials');
    if (/[?#]/.test(raw)) return invalid('must not have a query or fragment');
    // Access tokens, codes and the client secret go to these hosts.
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      return invalid('must use https unless the host is loopback (tokens would travel in clear)');
    }
    // Callers append paths that start with '/'.
    return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  });

/**
 * The origins that may frame the app (Genesys Cloud client apps): https origins, each exactly a
 * scheme and host (and port), or `genesys` for the region's app origin (`https://apps.{region}`,
 * resolved with GENESYS_REGION). No wildcards: a frame is a place to trick a user into clicks.
 * Plain http only on loopback, as for PUBLIC_BASE_URL: the demo's second local origin.
 */
const embedOrigins = () =>
  parsed((raw) => {
    const entries = commaList(raw);
    const bad: number[] = [];
    const origins = entries.map((entry, i) => {
      if (entry === 'genesys') return entry;
      const url = parseHttpUrl(entry);
      const ok =
        url !== undefined &&
        (url.protocol === 'https:' || isLoopbackHost(url.hostname)) &&
        !entry.includes('*') &&
        !url.username &&
        !url.password &&
        (entry === url.origin || entry === `${url.origin}/`);
      if (!ok) bad.push(i + 1);
      return url?.origin ?? entry;
    });
    if (bad.length > 0) {
      return invalid(
        `${entryList(bad)}: each entry must be an https origin without path or wildcard (https://apps.example.com), an http loopback origin, or genesys`,
      );
    }
    return [...new Set(origins)];
  });

const region = () => parsed((raw) => resolveRegion(raw) ?? invalid(UNKNOWN_REGION_MESSAGE));

const SESSION_SECRET_MIN = 32;

const sessionSecrets = () =>
  parsed((raw) => {
    const entries = commaList(raw);
    // Count code points, not UTF-16 units, so the rule means what it says.
    const lengths = entries.map((entry) => [...entry].length);
    const short = lengths.flatMap((length, i) => (length < SESSION_SECRET_MIN ? [i + 1] : []));
    if (short.length > 0) {
      const detail = short.map((p) => `entry ${p} has ${lengths[p - 1]}`).join(', ');
      return invalid(`each entry must be at least ${SESSION_SECRET_MIN} characters (${detail})`);
    }
    return entries;
  });

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

const encryptionKeys = () =>
  parsed((raw) => {
    const keys: Buffer[] = [];
    const bad: number[] = [];
    commaList(raw).forEach((entry, i) => {
      const key = BASE64.test(entry) ? Buffer.from(entry, 'base64') : undefined;
      if (key?.length === 32) keys.push(key);
      else bad.push(i + 1);
    });
    if (bad.length > 0) {
      const verb = bad.length === 1 ? 'is' : 'are';
      return invalid(
        `each entry must be base64 of exactly 32 bytes, e.g. from openssl rand -base64 32 (${entryList(bad)} ${verb} not)`,
      );
    }
    return keys;
  });

const redisUrl = () =>
  parsed((raw) => {
    const value = raw.trim();
    try {
      const url = new URL(value);
      if (url.protocol === 'redis:' || url.protocol === 'rediss:') return value;
    } catch {
      // Falls through to the message below; the URL parser's own message could echo the value.
    }
    return invalid('must be a redis:// or rediss:// URL');
  });

/**
 * `host:port,…` (a name, an IPv4 address or a bracketed IPv6 one, and a port) for the Sentinels or
 * the Cluster seed nodes. No scheme and no credentials: those have variables of their own.
 */
const hostPortList = () =>
  parsed((raw) => {
    const bad: number[] = [];
    const endpoints = commaList(raw).map((entry, i) => {
      const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535) bad.push(i + 1);
      // node:net wants an IPv6 host without its brackets.
      return { host: (match?.[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port };
    });
    if (bad.length > 0) {
      const verb = bad.length === 1 ? 'is' : 'are';
      return invalid(
        `must be a comma list of host:port, e.g. redis-1:26379,redis-2:26379 (${entryList(bad)} ${verb} not)`,
      );
    }
    return endpoints;
  });

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** An address, CIDR (prefix length or IPv4 netmask) or name that proxy-addr accepts. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.includes(entry.toLowerCase())) return true;
  const [address = '', range, ...rest] = entry.split('/');
  const family = net.isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (range === undefined) return true;
  if (/^\d{1,3}$/.test(range)) return Number(range) <= (family === 4 ? 32 : 128);
  return family === 4 && net.isIPv4(range);
}

const trustProxy = () =>
  parsed((raw): boolean | number | string | Invalid => {
    const word = raw.trim().toLowerCase();
    if (word === 'true') return true;
    if (word === 'false') return false;
    // A bare number is a hop count for Express, so "1" here does not mean true.
    if (/^\d+$/.test(word) && Number.isSafeInteger(Number(word))) return Number(word);
    const entries = commaList(raw);
    const bad = entries.flatMap((entry, i) => (isProxyAddress(entry) ? [] : [i + 1]));
    if (bad.length > 0) {
      const verb = bad.length === 1 ? 'is' : 'are';
      return invalid(
        `must be true, false, a hop count, or a comma list of IP addresses, CIDR ranges, loopback, linklocal or uniquelocal (${entryList(bad)} ${verb} not)`,
      );
    }
    return entries
      .map((e) => (PROXY_NAMES.includes(e.toLowerCase()) ? e.toLowerCase() : e))
      .join(',');
  });

/** The log levels pino knows, in order of severity. */
export const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/** The session store kinds. */
export const SESSION_STORES: readonly SessionStoreKind[] = ['sqlite', 'redis', 'memory'];

/**
 * The configuration schema: one entry per environment variable, in the order of the README's
 * configuration table (problems are reported in this order too; docs/contract.md#configuration
 * states the rules). Each carries its parser, its default and its README line. Unknown variables (PATH, HOME, …) are stripped.
 */
export const configSchema = z
  .object({
    PORT: defaulted(integerBetween(1, 65535), '3000', 'TCP port of the listener'),
    HOST: defaulted(text(), '0.0.0.0', 'address of the listener'),
    PUBLIC_BASE_URL: required(
      publicBaseUrl(),
      'the origin browsers use, e.g. `https://app.example.com` (https unless loopback); the OAuth redirect URI is `PUBLIC_BASE_URL/auth/callback`',
    ),
    GENESYS_REGION: defaulted(
      region(),
      'mypurecloud.com',
      'region domain (`mypurecloud.ie`) or SDK region key (`us_east_1`, `eu_west_1`, …)',
    ),
    GENESYS_API_BASE_URL: optional(
      genesysBaseUrl(),
      'API base URL override (emulator, tests); https unless loopback',
      '`https://api.{region}`',
    ),
    GENESYS_LOGIN_BASE_URL: optional(
      genesysBaseUrl(),
      'login server override (emulator, tests); https unless loopback',
      '`https://login.{region}`',
    ),
    OAUTH_CLIENT_ID: required(text(), 'Genesys OAuth client (authorization code grant)'),
    OAUTH_CLIENT_SECRET: optional(
      // Taken verbatim: a secret is whatever the operator pasted.
      parsed((raw) => raw),
      'confidential client secret; without it the PKCE-only public flow is used',
      '—',
      true,
    ),
    SESSION_SECRET: required(
      sessionSecrets(),
      `cookie signing, each entry ≥ ${SESSION_SECRET_MIN} characters; a comma list rotates (first signs, all verify)`,
      true,
    ),
    TOKEN_ENCRYPTION_KEY: optional(
      encryptionKeys(),
      'comma list of 32-byte AES-256-GCM keys (base64) for tokens at rest; first encrypts, all decrypt',
      'derived from `SESSION_SECRET`',
      true,
    ),
    SESSION_STORE: defaulted(
      oneOf(SESSION_STORES),
      'sqlite',
      '`sqlite` (embedded, survives restarts), `redis` (many replicas) or `memory` (tests)',
    ),
    SESSION_SQLITE_PATH: defaulted(
      text(),
      './data/sessions.sqlite',
      'database file of the `sqlite` store',
    ),
    REDIS_URL: optional(
      redisUrl(),
      '`redis://` or `rediss://` URL, an ACL user as `redis://user:password@host:6379`; with `SESSION_STORE=redis`, set exactly one of this, `REDIS_SENTINELS` or `REDIS_CLUSTER_NODES`',
      '—',
      true,
    ),
    REDIS_SENTINELS: optional(
      hostPortList(),
      'Sentinels to ask for the primary, `host:port,…` (instead of `REDIS_URL`); a failover costs a few seconds of 503s, no restart',
    ),
    REDIS_SENTINEL_MASTER: optional(
      text(),
      'name of the primary the Sentinels watch (`sentinel monitor NAME …`); required with `REDIS_SENTINELS`',
    ),
    REDIS_CLUSTER_NODES: optional(
      hostPortList(),
      'some Redis Cluster nodes, `host:port,…` (instead of `REDIS_URL`); the rest are discovered',
    ),
    REDIS_USERNAME: optional(
      text(),
      'ACL user for `REDIS_SENTINELS` or `REDIS_CLUSTER_NODES` (with `REDIS_URL`, put it in the URL); needs `REDIS_PASSWORD`',
      '`default`',
    ),
    REDIS_PASSWORD: optional(
      // Taken verbatim, like every secret.
      parsed((raw) => raw),
      'password for `REDIS_SENTINELS` or `REDIS_CLUSTER_NODES` (of `REDIS_USERNAME`, or of the `default` user)',
      '—',
      true,
    ),
    REDIS_TLS: defaulted(
      boolean(),
      'false',
      'TLS to the Sentinels and Redis servers of `REDIS_SENTINELS`, or to the nodes of `REDIS_CLUSTER_NODES` (with `REDIS_URL`, use `rediss://`)',
    ),
    REDIS_TLS_CA_FILE: optional(
      text(),
      'PEM file of the CA that signed the Redis server certificates (a private CA); unset, the system CAs',
    ),
    SESSION_IDLE_TIMEOUT_SECONDS: defaulted(
      positiveInteger(),
      '1800',
      'a session unused this long ends (rolled at most once per tenth of it, so it ends 0.9–1× this after its last use; `preserveIdleTTL=true` is no use); at most the absolute timeout',
    ),
    SESSION_ABSOLUTE_TIMEOUT_SECONDS: defaulted(
      positiveInteger(),
      '86400',
      'a session ends this long after login, however active',
    ),
    SESSION_WARNING_SECONDS: defaulted(
      integerBetween(10, 3600),
      '120',
      "`GET /session/events` sends `expiring` this long (10–3600 s) before the session's earliest deadline",
    ),
    EVENTS_MAX_STREAMS: defaulted(
      integerBetween(1, 100_000),
      '1000',
      'open `GET /session/events` streams this process serves at most (and 5 per session); beyond: 429',
    ),
    SESSION_COOKIE_SAMESITE: defaulted(
      oneOf(['strict', 'lax'] as const),
      'strict',
      '`SameSite` of the session cookie: `strict` or `lax` (with `EMBED_ORIGINS` it is `None`, partitioned)',
    ),
    UPSTREAM_TIMEOUT_MS: defaulted(
      integerBetween(100, 120000),
      '10000',
      'timeout per Genesys call, 100–120000 ms; a slower answer becomes 504',
    ),
    TRUST_PROXY: defaulted(
      trustProxy(),
      'false',
      'Express `trust proxy` for TLS-terminating load balancers: `true`, `false`, a hop count, or a comma list of IPs, CIDRs, `loopback`, `linklocal`, `uniquelocal`',
    ),
    LOG_LEVEL: defaulted(
      oneOf(LOG_LEVELS),
      'info',
      '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`',
    ),
    ADMIN_ENABLED: defaulted(boolean(), 'true', '`false`: the admin routes answer 404'),
    METRICS_PORT: optional(
      integerBetween(1, 65535),
      'serve `/metrics` on this port (≠ `PORT`) instead of the main one',
    ),
    STATIC_DIR: optional(text(), 'serve a built frontend from this folder on the same origin'),
    EMBED_ORIGINS: optional(
      embedOrigins(),
      'comma list of https origins that may frame the app (or `genesys`: `https://apps.{region}`); set, cookies are partitioned (`SameSite=None; Secure; Partitioned`) and login in a frame goes through a popup; unset, only the app itself may frame it',
    ),
    IDP_LOGOUT: defaulted(
      boolean(),
      'false',
      '`POST /auth/logout` ends at the Genesys logout page (`{login}/logout?client_id&redirect_uri=PUBLIC_BASE_URL/`)',
    ),
    SHUTDOWN_DRAIN_SECONDS: defaulted(
      integerBetween(1, 300),
      '10',
      'on SIGTERM, how long (1–300 s) requests in flight may take before they are cut; the process exits as soon as they are done (give `docker stop` or Kubernetes longer)',
    ),
  })
  .superRefine(
    (env, ctx) => {
      // A rule is checked only when the variables it relates parsed well: a broken one is
      // already reported, and its value here is not usable.
      const failed = new Set(ctx.issues.map((issue) => issue.path?.[0]));
      const ok = (...names: (keyof typeof env)[]) => names.every((name) => !failed.has(name));

      redisRules(env, ok, (variable, message) =>
        ctx.addIssue({ code: 'custom', path: [variable], message }),
      );
      const idle = env.SESSION_IDLE_TIMEOUT_SECONDS;
      const absolute = env.SESSION_ABSOLUTE_TIMEOUT_SECONDS;
      if (
        ok('SESSION_IDLE_TIMEOUT_SECONDS', 'SESSION_ABSOLUTE_TIMEOUT_SECONDS') &&
        idle > absolute
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['SESSION_IDLE_TIMEOUT_SECONDS'],
          message: `must not exceed SESSION_ABSOLUTE_TIMEOUT_SECONDS (${idle} > ${absolute})`,
        });
      }
      if (ok('PORT', 'METRICS_PORT') && env.METRICS_PORT === env.PORT) {
        ctx.addIssue({
          code: 'custom',
          path: ['METRICS_PORT'],
          message: `must differ from PORT (both are ${env.PORT})`,
        });
      }
    },
    // Run even when some fields failed, so that one start-up reports every problem.
    { when: () => true },
  );

/** The parsed environment, before loadConfig derives the Config from it. */
export type ParsedEnv = z.output<typeof configSchema>;

/** The variable names in table order. */
export const CONFIG_VARIABLES: readonly (keyof ParsedEnv)[] = Object.freeze(
  Object.keys(configSchema.shape) as (keyof ParsedEnv)[],
);

/** Returns the doc of a variable; every variable has one (a test checks it). */
export function variableDoc(name: keyof ParsedEnv): VariableDoc {
  const doc = variableDocs.get(configSchema.shape[name]);
  if (!doc) throw new Error(`config/schema.ts: ${name} has no doc`);
  return doc;
}

/** The secret variables: each may be given as NAME_FILE, and its value is never echoed. */
export const SECRET_VARIABLES: readonly (keyof ParsedEnv)[] = Object.freeze(
  CONFIG_VARIABLES.filter((name) => variableDoc(name).secret === true),
);
