import type { IRouter, RequestHandler } from 'express';
import type { Metrics } from '../core/metrics';
import { MethodNotAllowedError, ServiceUnavailableError } from '../core/errors';
import { withTimeout } from '../core/timeout';
import type { Lifecycle } from '../core/lifecycle';

// docs/contract.md#upstream-and-store-failures: store down ⇒ 503 within 2 s; a probe must not
// hang on a wedged store.
const READY_TIMEOUT_MS = 1500;

/**
 * Liveness, readiness and (unless served on METRICS_PORT) metrics, added to `router` (the app
 * itself: a Router of their own would be walked by every other request). Added before the
 * session middleware: probes must work when the store is down and must not create sessions.
 */
export function addOpsRoutes(
  router: IRouter,
  deps: {
    /** Resolves when the session store answers; rejects when it cannot serve. */
    pingStore: () => Promise<void>;
    metrics: Metrics;
    lifecycle: Lifecycle;
    serveMetrics: boolean;
  },
): void {
  const wrongMethod: RequestHandler = (_req, _res, next) =>
    next(new MethodNotAllowedError(['GET', 'HEAD']));
  router.route('/healthz').get((_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.route('/healthz').all(wrongMethod);
  router.route('/readyz').get(async (_req, res, next) => {
    // Set first: a 503 must not be cached by a proxy either, or "not ready" outlives the outage.
    res.set('Cache-Control', 'no-store');
    if (deps.lifecycle.shuttingDown) {
      return next(new ServiceUnavailableError('The gateway is shutting down.'));
    }
    try {
      await withTimeout(deps.pingStore(), READY_TIMEOUT_MS);
    } catch (err) {
      deps.metrics.storeErrors.inc();
      return next(new ServiceUnavailableError('The session store is unreachable.', err));
    }
    res.json({ status: 'ready' });
  });
  router.route('/readyz').all(wrongMethod);
  if (deps.serveMetrics) {
    router.get('/metrics', metricsHandler(deps.metrics));
    router.all('/metrics', wrongMethod);
  }
}

/** Prometheus text exposition of the registry. */
export function metricsHandler(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
