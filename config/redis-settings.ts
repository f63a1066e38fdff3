import type { ConfigProblem } from './config-error';
import type { ParsedEnv } from './schema';
import type { RedisSettings } from './types';

/**
 * Reads REDIS_TLS_CA_FILE (the raw variable) when SESSION_STORE=redis. An unreadable or non-PEM
 * file is a problem pushed onto `problems`, beside every other one, so that a wrong path fails
 * at start-up as a configuration error, not later as a TLS error.
 */
export function readRedisCa(
  input: Record<string, string | undefined>,
  readFile: (path: string) => string,
  problems: ConfigProblem[],
): string | undefined {
  const caFile = input.REDIS_TLS_CA_FILE?.trim();
  if (input.SESSION_STORE?.trim().toLowerCase() !== 'redis' || !caFile) return undefined;
  let pem: string;
  try {
    pem = readFile(caFile);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    problems.push({
      variable: 'REDIS_TLS_CA_FILE',
      message: `cannot read ${caFile}${typeof code === 'string' ? ` (${code})` : ''}`,
    });
    return undefined;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    problems.push({
      variable: 'REDIS_TLS_CA_FILE',
      message: `${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    });
    return undefined;
  }
  return pem;
}

/** The Redis settings of a parsed environment, undefined unless SESSION_STORE=redis. */
export function redisSettings(
  env: ParsedEnv,
  tlsCa: string | undefined,
): RedisSettings | undefined {
  if (env.SESSION_STORE !== 'redis') return undefined;
  return {
    ...(env.REDIS_URL !== undefined && { url: env.REDIS_URL }),
    ...(env.REDIS_SENTINELS !== undefined && { sentinels: env.REDIS_SENTINELS }),
    ...(env.REDIS_SENTINEL_MASTER !== undefined && { sentinelMaster: env.REDIS_SENTINEL_MASTER }),
    ...(env.REDIS_CLUSTER_NODES !== undefined && { clusterNodes: env.REDIS_CLUSTER_NODES }),
    ...(env.REDIS_USERNAME !== undefined && { username: env.REDIS_USERNAME }),
    ...(env.REDIS_PASSWORD !== undefined && { password: env.REDIS_PASSWORD }),
    tls: env.REDIS_TLS,
    ...(tlsCa !== undefined && { tlsCa }),
  };
}
