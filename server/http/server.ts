import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Config } from '../../config/types';
import { createApp, type AppDeps } from './app';
import { metricsHandler } from '../routes/ops';
import { createMetrics } from '../core/metrics';
import { InflightTracker } from './inflight';
import { answerRefusals } from './client-error';
import { Lifecycle } from '../core/lifecycle';

/** A listening gateway. `stop` is idempotent. */
export interface RunningServer {
  /** Where a client on this machine reaches it: 127.0.0.1 when it listens on every address. */
  readonly url: string;
  readonly address: AddressInfo;
  /** What it is bound to, as `host:port`: `0.0.0.0:3000` in a container, not the url's host. */
  readonly listening: string;
  readonly metricsUrl: string | undefined;
  /** As `listening`, for the METRICS_PORT listener. */
  readonly metricsListening: string | undefined;
  stop(): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function hostPort(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${host}:${address.port}`;
}

function urlOf(address: AddressInfo): string {
  return `http://${address.address === '0.0.0.0' ? `127.0.0.1:${address.port}` : hostPort(address)}`;
}

/**
 * Builds the app and listens. `stop` stops accepting, turns readiness to 503, closes each
 * connection with its last answer (idle ones at once), lets in-flight requests finish until
 * `drainMs` (SHUTDOWN_DRAIN_SECONDS by default), then cuts what is left and closes the store.
 */
export async function startServer(
  config: Config,
  deps: Omit<AppDeps, 'lifecycle' | 'inflight'>,
  options: { drainMs?: number } = {},
): Promise<RunningServer> {
  const lifecycle = new Lifecycle();
  const inflight = new InflightTracker();
  // Made here, not read back from the app: the listener and the metrics port count into it too.
  const metrics = deps.metrics ?? createMetrics();
  const app = createApp(config, { ...deps, metrics, lifecycle, inflight });
  // Host is checked by answerRefusals, so that its absence gets a problem answer, not a bare 400.
  const server = http.createServer({ requireHostHeader: false });
  server.on('request', answerRefusals(server, app, { logger: deps.logger, metrics, inflight }));
  // Slowloris guard and keep-alive longer than typical load balancer idle timeouts (60 s).
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  const address = await listen(server, config.port, config.host);

  let metricsServer: http.Server | undefined;
  let metricsAddress: AddressInfo | undefined;
  if (config.metricsPort !== undefined) {
    const metricsApp = express();
    metricsApp.disable('x-powered-by');
    metricsApp.get('/metrics', metricsHandler(metrics));
    metricsServer = http.createServer(metricsApp);
    metricsAddress = await listen(metricsServer, config.metricsPort, config.host);
  }

  let stopping: Promise<void> | undefined;
  const drainMs = options.drainMs ?? config.shutdownDrainSeconds * 1000;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      lifecycle.beginShutdown();
      // First, so that no answer written from here on says keep-alive.
      inflight.closeConnections();
      // close() also ends the connections idle at this moment; the others end with their answer.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          deps.logger.warn(
            { inflight: inflight.count, drainMs },
            'shutdown drain deadline reached: cutting requests still in flight',
          );
          server.closeAllConnections();
          resolve();
        }, drainMs);
      });
      // Both the sockets and the handlers: one whose client hung up may still be waiting on Genesys
      // and then write its session; the store closes only after that, or at the deadline.
      await Promise.race([Promise.all([closed, inflight.drained()]), deadline]);
      clearTimeout(timer);
      if (metricsServer) {
        const m = metricsServer;
        await new Promise<void>((resolve) => m.close(() => resolve()));
        m.closeAllConnections();
      }
      await deps.store.close();
    })();
    return stopping;
  };

  return {
    url: urlOf(address),
    address,
    listening: hostPort(address),
    metricsUrl: metricsAddress ? urlOf(metricsAddress) : undefined,
    metricsListening: metricsAddress ? hostPort(metricsAddress) : undefined,
    stop,
  };
}
