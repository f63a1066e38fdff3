import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { withTimeout } from '../../core/timeout';
import { StoreUnavailableError, toStoreUnavailable } from '../errors';
import type { StoreLogger } from '../options';
import type { Script } from './scripts';

/** How the store reaches Redis. */
export interface RedisConnectionOptions {
  /** `redis://` or `rediss://` URL (REDIS_URL). */
  url: string;
  /** How long one Redis command may take before the operation fails with StoreUnavailableError. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** How long `connect()` keeps trying before start-up fails. Default 5000 ms. */
  startupTimeoutMs?: number;
  /** Longest wait between reconnect attempts once connected. Default 2000 ms. */
  maxReconnectDelayMs?: number;
}

/** A Redis reply, as node-redis hands it over for a raw command. */
export type Reply = string | number | null | Reply[];

/**
 * One Redis connection that fails fast: every command fails with StoreUnavailableError within
 * about `commandTimeoutMs` while Redis is down or slow (no command is queued for later); the
 * connection comes back by itself, and logs when it is lost and restored.
 */
export class RedisConnection {
  private readonly client: ReturnType<typeof createClient>;
  private subscriber: ReturnType<typeof createClient> | undefined;
  private readonly logger: StoreLogger;
  private readonly target: string;
  private readonly commandTimeoutMs: number;
  private readonly startupTimeoutMs: number;
  private readonly maxReconnectDelayMs: number;
  private connectStartedAt = 0;
  private everReady = false;
  private down = false;
  private closed = false;

  /** Builds the connection; nothing is connected until `connect()`. `scripts` are loaded on each (re)connect. */
  constructor(options: RedisConnectionOptions, logger: StoreLogger, scripts: readonly Script[]) {
    this.logger = logger;
    this.target = describeTarget(options.url);
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.startupTimeoutMs = options.startupTimeoutMs ?? 5000;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 2000;
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
      for (const s of scripts) {
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
   * message names the Redis (never its password) when it cannot.
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
  }

  /**
   * Sends one command, failing with StoreUnavailableError when the store is closed, Redis is
   * offline (at once) or does not answer within commandTimeoutMs. The command is handed to the
   * connection synchronously, so operations reach Redis in the order they were called.
   */
  call(args: string[]): Promise<Reply> {
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

  /** Runs a script by its SHA, sending it in full when Redis does not know it. */
  async eval(s: Script, keys: string[], args: string[]): Promise<Reply> {
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

  /**
   * Listens on `channel` over a connection of its own (a subscribed connection takes no other
   * commands). It reconnects like the main one, and node-redis subscribes it again when it does;
   * messages published while it is away are lost (a Broadcast is best effort).
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('session store is closed');
    if (!this.subscriber) {
      const subscriber = this.client.duplicate();
      subscriber.on('error', (err: unknown) => {
        if (!this.closed)
          this.logger.warn({ err, redis: this.target }, 'session events: Redis subscriber error');
      });
      this.subscriber = subscriber;
      await withTimeout(subscriber.connect(), this.startupTimeoutMs, () => this.timedOut());
    }
    await this.subscriber.subscribe(channel, listener);
  }

  /** Quits (or, while Redis is away, drops) the connection; later commands fail. */
  async close(): Promise<void> {
    if (this.closed && !this.client.isOpen) return;
    this.closed = true;
    await this.subscriber?.disconnect().catch(() => undefined);
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

  private timedOut(): StoreUnavailableError {
    return new StoreUnavailableError(`Redis did not answer within ${this.commandTimeoutMs} ms`);
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
