import { hkdfSync } from 'node:crypto';
import fs from 'node:fs';
import { ConfigError } from './config-error';
import type { ConfigProblem } from './config-error';
import { CONFIG_VARIABLES, SECRET_VARIABLES, configSchema } from './schema';
import { readRedisCa, redisSettings } from './redis-settings';
import type { Config } from './types';

/**
 * Derives the token-encryption key of one SESSION_SECRET entry (HKDF-SHA256, RFC 5869). The
 * salt and info tie the key to this purpose, so it differs from the cookie-signing use of the
 * same secret; the fixed label keeps it stable across restarts and replicas.
 */
export function deriveTokenEncryptionKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'tokens-bff', 'token-encryption-v1', 32));
}

/** Name of the session cookie: the RFC 10017 `__Host-Http-` prefix needs Secure, hence https. */
function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-Http-session' : 'bff.sid';
}

/** An empty variable counts as unset (`FOO=` in a compose file or an env file). */
function present(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Drops exactly one trailing newline, the one `echo` and most editors add to a secret file. */
function trimOneNewline(content: string): string {
  if (content.endsWith('\r\n')) return content.slice(0, -2);
  if (content.endsWith('\n')) return content.slice(0, -1);
  return content;
}

/** Freezes an object graph. Buffers are left alone: a non-empty typed array cannot be frozen. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Position of a problem's variable in the configuration table (config/schema.ts); NAME_FILE sorts with NAME. */
function variableRank(variable: string): number {
  const names = CONFIG_VARIABLES as readonly string[];
  // A variable that is itself a path (REDIS_TLS_CA_FILE) is in the table under its own name.
  const index = names.includes(variable)
    ? names.indexOf(variable)
    : names.indexOf(variable.replace(/_FILE$/, ''));
  return index === -1 ? CONFIG_VARIABLES.length : index;
}

/**
 * Parses and validates the environment once, at start-up, into a deep-frozen Config.
 *
 * Every secret may be given as NAME_FILE (a path, read with `readFile`; one trailing newline is
 * trimmed). All problems are collected and thrown together as one ConfigError whose message
 * names each bad variable and why, in the order of the configuration table, and never a secret's value.
 * Variables the gateway does not know (PATH, HOME, …) are ignored.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = (path) => fs.readFileSync(path, 'utf8'),
): Config {
  const problems: ConfigProblem[] = [];
  const input: Record<string, string | undefined> = {};
  // Variables whose value came from NAME_FILE: their problems are reported under that name.
  const fromFile = new Set<string>();
  // Variables already reported while resolving NAME_FILE: the schema's view of them is moot.
  const reported = new Set<string>();

  for (const name of CONFIG_VARIABLES) {
    const value = present(env[name]);
    const fileVariable = `${name}_FILE`;
    const path = SECRET_VARIABLES.includes(name) ? present(env[fileVariable]) : undefined;
    if (path === undefined) {
      input[name] = value;
      continue;
    }
    if (value !== undefined) {
      problems.push({ variable: name, message: `set either ${name} or ${fileVariable}, not both` });
      reported.add(name);
      continue;
    }
    let content: string;
    try {
      content = trimOneNewline(readFile(path));
    } catch (error) {
      // Only the error code: an fs message is harmless, but an injected reader's might not be.
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      problems.push({
        variable: fileVariable,
        message: `cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`,
      });
      reported.add(name);
      continue;
    }
    if (content === '') {
      problems.push({ variable: fileVariable, message: `${path} is empty` });
      reported.add(name);
      continue;
    }
    input[name] = content;
    fromFile.add(name);
  }

  const result = configSchema.safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? 'configuration');
      if (reported.has(name)) continue;
      problems.push({
        variable: fromFile.has(name) ? `${name}_FILE` : name,
        message: issue.message,
      });
    }
  }
  const redisCa = readRedisCa(input, readFile, problems);
  if (problems.length > 0 || !result.success) {
    // Array.prototype.sort is stable: several problems of one variable keep their order.
    throw new ConfigError(
      [...problems].sort((a, b) => variableRank(a.variable) - variableRank(b.variable)),
    );
  }

  const settings = result.data;
  const origin = settings.PUBLIC_BASE_URL;
  // Embedded, the cookies are SameSite=None, which browsers take only with Secure: so Secure
  // even on http loopback, which browsers count as a secure context (docs/embedded.md).
  const embedded = settings.EMBED_ORIGINS !== undefined;
  const secure = origin.startsWith('https:') || embedded;
  const region = settings.GENESYS_REGION;

  return deepFreeze<Config>({
    port: settings.PORT,
    host: settings.HOST,
    publicOrigin: origin,
    secureCookies: secure,
    genesys: {
      region,
      apiBaseUrl: settings.GENESYS_API_BASE_URL ?? `https://api.${region}`,
      loginBaseUrl: settings.GENESYS_LOGIN_BASE_URL ?? `https://login.${region}`,
    },
    oauth: {
      clientId: settings.OAUTH_CLIENT_ID,
      clientSecret: settings.OAUTH_CLIENT_SECRET,
      redirectUri: `${origin}/auth/callback`,
    },
    session: {
      secrets: settings.SESSION_SECRET,
      store: settings.SESSION_STORE,
      sqlitePath: settings.SESSION_SQLITE_PATH,
      redisUrl: settings.REDIS_URL,
      redis: redisSettings(settings, redisCa),
      idleTimeoutSeconds: settings.SESSION_IDLE_TIMEOUT_SECONDS,
      absoluteTimeoutSeconds: settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS,
      cookieSameSite: embedded ? 'none' : settings.SESSION_COOKIE_SAMESITE,
      partitioned: embedded,
      warningSeconds: settings.SESSION_WARNING_SECONDS,
      maxEventStreams: settings.EVENTS_MAX_STREAMS,
      cookieName: sessionCookieName(secure),
    },
    // Same order as the secrets, so rotating SESSION_SECRET rotates the derived keys with it.
    tokenEncryptionKeys:
      settings.TOKEN_ENCRYPTION_KEY ?? settings.SESSION_SECRET.map(deriveTokenEncryptionKey),
    upstreamTimeoutMs: settings.UPSTREAM_TIMEOUT_MS,
    trustProxy: settings.TRUST_PROXY,
    logLevel: settings.LOG_LEVEL,
    adminEnabled: settings.ADMIN_ENABLED,
    metricsPort: settings.METRICS_PORT,
    staticDir: settings.STATIC_DIR,
    embedOrigins: settings.EMBED_ORIGINS?.map((o) =>
      o === 'genesys' ? `https://apps.${region}` : o,
    ),
    idpLogout: settings.IDP_LOGOUT,
    shutdownDrainSeconds: settings.SHUTDOWN_DRAIN_SECONDS,
  });
}
