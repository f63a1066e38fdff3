import { performance } from 'node:perf_hooks';
import type { RedisSettings } from '../../../config/types';
import { withTimeout } from '../../core/timeout';
import { StoreUnavailableError, toStoreUnavailable } from '../errors';
import type { StoreLogger } from '../options';
import { Cluster } from 'ioredis';
import {
  createRedisClient,
  describeRedis,
  duplicateRedisClient,
  type RedisClient,
  type SentinelEvents,
} from './client';
import type { Script } from './scripts';

/** How the store reaches Redis: one of `url`, `sentinels` or `clusterNodes` (config/types.ts). */
export interface RedisConnectionOptions extends RedisSettings {
  /** How long one Redis command may take before the operation fails with StoreUnavailableError. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** How long `connect()` keeps trying before start-up fails. Default 5000 ms. */
  startupTimeoutMs?: number;
  /** Longest wait between reconnect attempts once connected. Default 2000 ms. */
  maxReconnectDelayMs?: number;
}

/** A Redis reply to a raw command (RESP2). */
export type Reply = string | number | null | Reply[];

// Errors that retrying cannot mend: at start-up they end the attempts at once, so a wrong CA or
// password fails in one clear line instead of after startupTimeoutMs of the same error.
const FATAL_AT_START =
  /certificate|self[- ]signed|CERT_|WRONGPASS|NOAUTH|NOPERM|invalid username-password/i;

/**
 * One connection to Redis (a server, a primary found through Sentinels, or a Cluster) that fails
 * fast: every command fails with StoreUnavailableError within about `commandTimeoutMs` while
 * Redis is down or slow (no command is queued for later); the connection comes back by itself,
 * follows a Sentinel failover, and logs once when it is lost and once when it is restored.
 */
export class RedisConnection {
  private readonly client: RedisClient;
  private subscriber: RedisClient | undefined;
  private readonly listeners = new Map<string, ((message: string) => void)[]>();
  private readonly logger: StoreLogger;
  private readonly target: string;
  private readonly commandTimeoutMs: number;
  private readonly startupTimeoutMs: number;
  private readonly maxReconnectDelayMs: number;
  private readonly sentinelEvents: SentinelEvents;
  private connectStartedAt = 0;
  private lastError: unknown;
  private everReady = false;
  private down = false;
  private closed = false;
  /** Pending restarts of clients that ioredis ended by itself (restartWhenEnded). */
  private readonly restarts = new Set<NodeJS.Timeout>();

  /** Builds the connection; nothing is connected until `connect()`. */
  constructor(options: RedisConnectionOptions, logger: StoreLogger) {
    this.logger = logger;
    this.target = describeRedis(options);
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.startupTimeoutMs = options.startupTimeoutMs ?? 5000;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 2000;
    this.sentinelEvents = this.watchSentinels();
    this.client = createRedisClient(options, {
      connectTimeoutMs: Math.max(this.commandTimeoutMs, 1000),
      retry: (attempt) => this.reconnectDelay(attempt),
      sentinelEvents: this.sentinelEvents,
    });
    // ioredis emits 'error' on every failed attempt; unhandled, it would end the process.
    this.client.on('error', (err: unknown) => {
      this.lastError = err;
    });
    this.client.on('close', () => {
      if (this.down || this.closed || !this.everReady) return;
      this.down = true;
      this.logger.warn(
        { err: this.lastError, redis: this.target },
        'session store: Redis connection lost; reconnecting',
      );
    });
    this.client.on('ready', () => {
      if (this.down && this.everReady) {
        this.logger.warn({ redis: this.target }, 'session store: Redis connection restored');
      }
      this.down = false;
      this.everReady = true;
    });
    this.restartWhenEnded(this.client);
  }

  /**
   * Connects, retrying for up to `startupTimeoutMs`; rejects with a StoreUnavailableError whose
   * message names the Redis (never its password) when it cannot.
   */
  async connect(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('session store is closed');
    this.connectStartedAt = performance.now();
    try {
      await untilReady(this.client, () => this.lastError);
      // A Cluster client opens its connection to each primary at first use: opened here, a
      // primary that cannot be reached fails start-up, and the first requests pay no connect.
      await Promise.all(this.primaries().map((send) => send(['PING'])));
    } catch (err) {
      this.closed = true;
      this.client.disconnect();
      const reason = messageOf(err) ?? String(err);
      throw new StoreUnavailableError(`cannot connect to ${this.target}: ${reason}`, {
        cause: err,
      });
    }
    // close() during the first attempts ends the attempts, and connect() with them.
    if (this.closed) throw new StoreUnavailableError('session store is closed');
  }

  /**
   * Sends one command, failing with StoreUnavailableError when the store is closed, Redis is
   * offline (at once) or does not answer within commandTimeoutMs. The command is handed to the
   * connection synchronously, so operations reach Redis in the order they were called.
   */
  call(args: readonly string[]): Promise<Reply> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('session store is closed'));
    const [command = '', ...rest] = args;
    let sent: Promise<Reply>;
    try {
      sent = this.client.call(command, ...rest) as Promise<Reply>;
    } catch (err) {
      sent = Promise.reject(err);
    }
    return withTimeout(sent, this.commandTimeoutMs, () => this.timedOut()).catch((err: unknown) => {
      throw toStoreUnavailable(err, 'session store (Redis) is unavailable');
    });
  }

  /**
   * Runs a script. Always EVAL, never EVALSHA: no NOSCRIPT round trip after a restart or a
   * failover (a promoted replica or another Cluster node has its own script cache), so calls
   * reach Redis in the order they were made; the cost is the script's few hundred bytes.
   */
  eval(s: Script, keys: readonly string[], args: readonly string[]): Promise<Reply> {
    return this.call(['EVAL', s.source, String(keys.length), ...keys, ...args]);
  }

  /** Every primary, for commands that each must see (SCAN): the one server, or each Cluster primary. */
  primaries(): ((args: readonly string[]) => Promise<Reply>)[] {
    if (!(this.client instanceof Cluster)) return [(args) => this.call(args)];
    return this.client.nodes('master').map((node) => (args: readonly string[]) => {
      if (this.closed) return Promise.reject(new StoreUnavailableError('session store is closed'));
      const [command = '', ...rest] = args;
      const sent = node.call(command, ...rest) as Promise<Reply>;
      return withTimeout(sent, this.commandTimeoutMs, () => this.timedOut()).catch(
        (err: unknown) => {
          throw toStoreUnavailable(err, 'session store (Redis) is unavailable');
        },
      );
    });
  }

  /**
   * Listens on `channel` over a connection of its own (a subscribed connection takes no other
   * commands). It reconnects like the main one and subscribes again when it does; messages
   * published while it is away are lost (a Broadcast is best effort). In a Cluster, PUBLISH
   * reaches every node, so one subscribed node hears all.
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('session store is closed');
    if (!this.subscriber) {
      // A subscribed connection takes no other command, so the subscriber is a copy of its own.
      const subscriber = duplicateRedisClient(this.client, this.sentinelEvents);
      let lastError: unknown;
      subscriber.on('error', (err: unknown) => {
        lastError = err;
        if (!this.closed && this.everReady) {
          this.logger.warn({ err, redis: this.target }, 'session events: Redis subscriber error');
        }
      });
      subscriber.on('message', (from: string, message: string) => {
        for (const l of this.listeners.get(from) ?? []) l(message);
      });
      this.restartWhenEnded(subscriber);
      this.subscriber = subscriber;
      await withTimeout(
        untilReady(subscriber, () => lastError),
        this.startupTimeoutMs,
        () => this.timedOut(),
      );
    }
    const subscribed = this.subscriber;
    const known = this.listeners.get(channel);
    if (known) {
      known.push(listener);
      return;
    }
    this.listeners.set(channel, [listener]);
    await withTimeout(subscribed.subscribe(channel), this.startupTimeoutMs, () => this.timedOut());
  }

  /**
   * ioredis can end a Sentinel client for good on its own: a failover notice (+switch-master)
   * that arrives while the client is already reconnecting makes the connector drop that attempt
   * ("Connection is closed.") and the client ends instead of retrying, so the store stayed
   * unavailable with the promoted replica up and ready (seen in the Sentinel TLS failover test;
   * ioredis 6.0.0, SentinelConnector.connect checks `connecting`, which the detector's
   * disconnect clears). A client that was ready once and ends although nobody closed it is
   * started again, after the usual reconnect delay; it subscribes again as after a reconnect.
   * A Cluster retries by itself and only ends when told to.
   */
  private restartWhenEnded(client: RedisClient): void {
    if (client instanceof Cluster) return;
    let wasReady = false;
    let attempt = 0;
    client.on('ready', () => {
      wasReady = true;
      attempt = 0;
    });
    client.on('end', () => {
      if (this.closed || !wasReady) return;
      attempt += 1;
      const timer = setTimeout(
        () => {
          this.restarts.delete(timer);
          if (this.closed || client.status !== 'end') return;
          // A failed start ends the client again, and so comes back here for the next attempt.
          client.connect().catch(() => undefined);
        },
        this.reconnectDelay(attempt) ?? 0,
      );
      this.restarts.add(timer);
    });
  }

  /** Quits (or, while Redis is away, drops) the connection; later commands fail. */
  async close(): Promise<void> {
    if (this.closed && this.client.status === 'end') return;
    this.closed = true;
    for (const timer of this.restarts) clearTimeout(timer);
    this.restarts.clear();
    this.subscriber?.disconnect();
    try {
      if (this.client.status === 'ready') {
        await withTimeout(this.client.quit(), this.commandTimeoutMs, () => this.timedOut());
      }
    } catch {
      // Closing is best effort: the connection is abandoned either way.
    }
    // Down or reconnecting: stop the reconnect loop instead of waiting for Redis.
    this.client.disconnect();
  }

  /**
   * One warning when a Sentinel connection fails, and one when that Sentinel answers again: the
   * failover notices it sends are missed meanwhile (failover is then found at the next reconnect).
   * Not one per attempt, since the attempts repeat for as long as the Sentinel is away. Errors
   * after close() are the shutdown's own.
   */
  private watchSentinels(): SentinelEvents {
    const failing = new Set<string>();
    return {
      error: (sentinel, err) => {
        if (this.closed || failing.has(sentinel)) return;
        failing.add(sentinel);
        this.logger.warn(
          { err, sentinel, redis: this.target },
          'session store: a Sentinel connection failed; retrying',
        );
      },
      ready: (sentinel) => {
        if (!failing.delete(sentinel)) return;
        this.logger.warn(
          { sentinel, redis: this.target },
          'session store: Sentinel reachable again',
        );
      },
    };
  }

  private reconnectDelay(attempt: number): number | null {
    if (this.closed) return null;
    if (!this.everReady) {
      if (FATAL_AT_START.test(messageOf(this.lastError) ?? '')) return null;
      if (performance.now() - this.connectStartedAt >= this.startupTimeoutMs) return null;
    }
    // Exponential backoff with jitter, so replicas do not reconnect in lockstep.
    const base = Math.min(50 * 2 ** Math.min(attempt, 10), this.maxReconnectDelayMs);
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  private timedOut(): StoreUnavailableError {
    return new StoreUnavailableError(`Redis did not answer within ${this.commandTimeoutMs} ms`);
  }
}

/**
 * Starts `client` and resolves once it is ready; rejects with the last error once it gives up
 * (its retry strategy said stop). ioredis's own connect() rejects at the first failed attempt
 * while the retries go on, which is not what start-up wants.
 */
function untilReady(client: RedisClient, lastError: () => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      const err = lastError();
      reject(messageOf(err) === undefined ? new Error('connection closed') : err);
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
    client.connect().catch(() => undefined);
  });
}

// Duck-typed: errors raised by node:net come from another realm than a test's `Error` (jest).
function messageOf(err: unknown): string | undefined {
  const message = (err as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}
