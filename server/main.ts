import { loadConfig } from '../config/load-config';
import { ConfigError } from '../config/config-error';
import type { Config } from '../config/types';
import { createLogger, type Logger } from './core/logger';
import { startServer } from './http/server';
import type { SessionStore } from './stores/contract';
import { SqliteSessionStore } from './stores/sqlite/store';
import { MemorySessionStore } from './stores/memory';
import type * as RedisModule from './stores/redis/store';

/** The session store SESSION_STORE names, open (Redis: connected), with the configured lifetimes. */
async function buildStore(config: Config, logger: Logger): Promise<SessionStore> {
  const lifetimes = {
    defaultTtlMs: config.session.idleTimeoutSeconds * 1000,
    absoluteTimeoutMs: config.session.absoluteTimeoutSeconds * 1000,
    logger,
  };
  switch (config.session.store) {
    case 'sqlite':
      return new SqliteSessionStore({ path: config.session.sqlitePath, ...lifetimes });
    case 'memory':
      return new MemorySessionStore(lifetimes);
    case 'redis': {
      // Loaded only when used: the Redis client costs a SQLite deployment memory for nothing.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { RedisSessionStore } = require('./stores/redis/store') as typeof RedisModule;
      // loadConfig sets `redis` with SESSION_STORE=redis: one of REDIS_URL, Sentinels, Cluster.
      const store = new RedisSessionStore({ ...config.session.redis, ...lifetimes });
      // Unreachable at start: one line naming the Redis, exit 1 (main's catch below). Once
      // started, an outage only turns requests and /readyz to 503 until Redis is back.
      await store.connect();
      return store;
    }
  }
}

/** The one composition root: environment in, listening server out, signals trapped. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      // One clear message, no stack trace (docs/contract.md#configuration).
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  if (config.publicOrigin.startsWith('https:') && config.trustProxy === false) {
    // express-session sets a Secure cookie only on a request it knows came over TLS.
    logger.warn(
      'PUBLIC_BASE_URL is https but TRUST_PROXY is false: behind a TLS-terminating proxy, set TRUST_PROXY or no session cookie is sent',
    );
  }
  const store = await buildStore(config, logger);
  const server = await startServer(config, { logger, store });
  // The bound address, not server.url: in a container that is 0.0.0.0, which a url would hide.
  logger.info(
    {
      address: server.listening,
      metricsAddress: server.metricsListening,
      store: config.session.store,
    },
    'listening',
  );

  const shutdown = (signal: string): void => {
    logger.info({ signal, drainSeconds: config.shutdownDrainSeconds }, 'shutting down');
    server.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `tokens-bff failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
