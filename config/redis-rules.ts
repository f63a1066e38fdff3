import type { RedisEndpoint } from './types';

/** The Redis variables as the schema parsed them. */
export interface RedisEnv {
  SESSION_STORE: string;
  REDIS_URL?: string | undefined;
  REDIS_SENTINELS?: readonly RedisEndpoint[] | undefined;
  REDIS_SENTINEL_MASTER?: string | undefined;
  REDIS_CLUSTER_NODES?: readonly RedisEndpoint[] | undefined;
  REDIS_USERNAME?: string | undefined;
  REDIS_PASSWORD?: string | undefined;
  REDIS_TLS: boolean;
  REDIS_TLS_CA_FILE?: string | undefined;
}

type RedisVariable = keyof RedisEnv;

/** The three ways to reach Redis, of which SESSION_STORE=redis takes exactly one. */
const TOPOLOGIES = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const;

/**
 * The rules between the Redis variables (docs/redis.md#configuration): with SESSION_STORE=redis,
 * exactly one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES, and only settings that the
 * chosen one uses. A rule is checked only when its variables parsed (`ok`); each broken rule is
 * one `report`.
 */
export function redisRules(
  env: RedisEnv,
  ok: (...names: RedisVariable[]) => boolean,
  report: (variable: RedisVariable, message: string) => void,
): void {
  if (!ok('SESSION_STORE', ...TOPOLOGIES) || env.SESSION_STORE !== 'redis') return;
  const chosen = TOPOLOGIES.filter((name) => env[name] !== undefined);
  if (chosen.length === 0) {
    report('REDIS_URL', 'is required when SESSION_STORE=redis');
    return;
  }
  // Reported on every one after the first, so the message names what to remove.
  for (const extra of chosen.slice(1)) {
    report(extra, `set only one of ${TOPOLOGIES.join(', ')} (${chosen[0]} is set too)`);
  }
  if (chosen.length > 1) return;
  const viaUrl = chosen[0] === 'REDIS_URL';

  if (ok('REDIS_SENTINEL_MASTER')) {
    if (env.REDIS_SENTINELS !== undefined && env.REDIS_SENTINEL_MASTER === undefined) {
      report('REDIS_SENTINEL_MASTER', 'is required with REDIS_SENTINELS');
    }
    if (env.REDIS_SENTINELS === undefined && env.REDIS_SENTINEL_MASTER !== undefined) {
      report('REDIS_SENTINEL_MASTER', 'is used only with REDIS_SENTINELS');
    }
  }
  if (viaUrl) {
    // One place for the credentials and the TLS choice, so the two cannot disagree.
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
      if (env[name] !== undefined) {
        report(
          name,
          'with REDIS_URL, put the user and password in the URL (redis://user:password@host:6379)',
        );
      }
    }
    if (ok('REDIS_TLS') && env.REDIS_TLS) {
      report('REDIS_TLS', 'with REDIS_URL, use a rediss:// URL instead');
    }
  } else if (ok('REDIS_USERNAME', 'REDIS_PASSWORD')) {
    if (env.REDIS_USERNAME !== undefined && env.REDIS_PASSWORD === undefined) {
      report('REDIS_USERNAME', 'needs REDIS_PASSWORD');
    }
  }
  const tls = viaUrl ? env.REDIS_URL?.trim().startsWith('rediss:') : env.REDIS_TLS;
  if (ok('REDIS_TLS', 'REDIS_TLS_CA_FILE') && env.REDIS_TLS_CA_FILE !== undefined && !tls) {
    report('REDIS_TLS_CA_FILE', viaUrl ? 'needs a rediss:// REDIS_URL' : 'needs REDIS_TLS=true');
  }
}
