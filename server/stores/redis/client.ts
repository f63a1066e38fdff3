import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisSettings } from '../../../config/types';

/** A connection to a single Redis, to a primary found through Sentinels, or to a Cluster. */
export type RedisClient = Redis | Cluster;

/** Decides the wait before reconnect attempt `attempt`, or null to stop trying. */
export type RetryStrategy = (attempt: number) => number | null;

/** What every topology shares: fail fast, never replay, reconnect by `retry`. */
interface ClientBehaviour {
  connectTimeoutMs: number;
  retry: RetryStrategy;
}

// Fail fast (docs/contract.md#upstream-and-store-failures): a command sent while Redis is away
// fails at once instead of waiting in a queue, and one in flight when the connection drops is
// failed, not sent again after the caller already heard 503 (a replayed CLAIM would spend a login
// state nobody uses).
const FAIL_FAST = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
} as const;

// RESP2: the replies the scripts were written for (ioredis 6 speaks RESP3 unless told).
const PROTOCOL = { protocol: 2 } as const;

function tlsOptions(enabled: boolean | undefined, ca: string | undefined): RedisOptions['tls'] {
  if (!enabled) return undefined;
  // Without `ca`, Node verifies against its own CA list; with it, only against that CA.
  return ca === undefined ? {} : { ca: [ca] };
}

/** The connection the settings describe, not yet connected (`connect()` starts it). */
export function createRedisClient(
  settings: RedisSettings,
  behaviour: ClientBehaviour,
): RedisClient {
  const common: RedisOptions = {
    ...FAIL_FAST,
    ...PROTOCOL,
    lazyConnect: true,
    connectTimeout: behaviour.connectTimeoutMs,
    retryStrategy: behaviour.retry,
  };
  if (settings.url !== undefined) {
    const url = new URL(settings.url);
    return new Redis({
      ...common,
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? 6379 : Number(url.port),
      db: /^\/\d+$/.test(url.pathname) ? Number(url.pathname.slice(1)) : 0,
      ...(url.username !== '' && { username: decodeURIComponent(url.username) }),
      ...(url.password !== '' && { password: decodeURIComponent(url.password) }),
      tls: tlsOptions(url.protocol === 'rediss:', settings.tlsCa),
    });
  }
  const credentials = {
    ...(settings.username !== undefined && { username: settings.username }),
    ...(settings.password !== undefined && { password: settings.password }),
  };
  const tls = tlsOptions(settings.tls, settings.tlsCa);
  if (settings.sentinels !== undefined) {
    return new Redis({
      ...common,
      ...credentials,
      tls,
      sentinels: settings.sentinels.map(({ host, port }) => ({ host, port })),
      name: settings.sentinelMaster ?? 'mymaster',
      enableTLSForSentinelMode: tls !== undefined,
      ...(tls !== undefined && { sentinelTLS: tls }),
      sentinelRetryStrategy: behaviour.retry,
      // Hears +switch-master from the Sentinels, so a failover is followed as soon as it is
      // decided rather than at the next failed reconnect to the old primary.
      failoverDetector: true,
    });
  }
  const cluster: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: behaviour.retry,
    slotsRefreshTimeout: behaviour.connectTimeoutMs,
    redisOptions: {
      ...PROTOCOL,
      ...credentials,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: behaviour.connectTimeoutMs,
      tls,
    },
  };
  return new Cluster(
    (settings.clusterNodes ?? []).map(({ host, port }) => ({ host, port })),
    cluster,
  );
}

/** Names the Redis in messages and logs ("Redis at redis://host:6379"), never with its credentials. */
export function describeRedis(settings: RedisSettings): string {
  if (settings.url !== undefined) {
    try {
      const url = new URL(settings.url);
      return `Redis at ${url.protocol}//${url.host}`;
    } catch {
      return 'the Redis of REDIS_URL';
    }
  }
  const list = (endpoints: readonly { host: string; port: number }[]): string =>
    endpoints
      .map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`)
      .join(',');
  if (settings.sentinels !== undefined) {
    return `Redis primary ${settings.sentinelMaster ?? ''} via Sentinels ${list(settings.sentinels)}`;
  }
  return `Redis Cluster at ${list(settings.clusterNodes ?? [])}`;
}
