import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisSettings } from '../../../config/types';

/** A connection to a single Redis, to a primary found through Sentinels, or to a Cluster. */
export type RedisClient = Redis | Cluster;

/** Decides the wait before reconnect attempt `attempt`, or null to stop trying. */
export type RetryStrategy = (attempt: number) => number | null;

/** What a connection to one Sentinel went through (`sentinel` is its host:port). */
export interface SentinelEvents {
  error(sentinel: string, err: unknown): void;
  ready(sentinel: string): void;
}

/** What every topology shares: fail fast, never replay, reconnect by `retry`. */
interface ClientBehaviour {
  connectTimeoutMs: number;
  retry: RetryStrategy;
  /** Told of the connections ioredis keeps to the Sentinels on its own. */
  sentinelEvents?: SentinelEvents;
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
    const client = new Redis({
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
    if (behaviour.sentinelEvents) listenToSentinels(client, behaviour.sentinelEvents);
    return client;
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

/** A second connection like `client` (a subscriber), its Sentinel connections listened to too. */
export function duplicateRedisClient(client: RedisClient, events?: SentinelEvents): RedisClient {
  if (client instanceof Cluster) return client.duplicate();
  const copy = client.duplicate();
  if (events && client.options.sentinels) listenToSentinels(copy, events);
  return copy;
}

/**
 * ioredis's failover detector keeps a connection to each Sentinel and listens for errors on none
 * of them, so ioredis writes each of their errors raw to stderr ("[ioredis] Unhandled error
 * event"), outside the JSON logs: a Sentinel that resets connections made main print such lines,
 * and so did a Sentinel TLS test run once. The connector's (private) factory of those connections
 * is wrapped to listen on each. redis-sentinel.test.ts fails should an ioredis upgrade rename it.
 */
function listenToSentinels(client: Redis, events: SentinelEvents): void {
  type Factory = (endpoint: { host?: string; port?: number }, ...rest: unknown[]) => Redis;
  const connector = (client as unknown as { connector?: { connectToSentinel?: Factory } })
    .connector;
  const factory = connector?.connectToSentinel;
  if (connector === undefined || typeof factory !== 'function') return;
  connector.connectToSentinel = function (this: unknown, endpoint, ...rest) {
    const sentinel = factory.call(this, endpoint, ...rest);
    const name = `${endpoint.host ?? 'localhost'}:${endpoint.port ?? 26379}`;
    sentinel.on('error', (err: unknown) => events.error(name, err));
    sentinel.on('ready', () => events.ready(name));
    return sentinel;
  };
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
