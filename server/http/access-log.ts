import type { RequestHandler } from 'express';
import { unredacted, type Logger } from '../core/logger';
import { observer, type Metrics } from '../core/metrics';
import { requestIdOf } from '../core/request-id';
import { traceIdOf } from '../core/trace-context';

/** The route template for metrics: bounded cardinality, never the raw path (which holds ids). */
function routeLabel(req: Parameters<RequestHandler>[0]): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  return 'unmatched';
}

/**
 * One JSON line per request when it finishes, plus the duration histogram. Logs the path only:
 * a query string may hold an authorization code (`/auth/callback?code=`).
 */
export function accessLog(logger: Logger, metrics: Metrics): RequestHandler {
  // The line holds only the fields below: method, path (never the query), route, status, timing.
  const lines = unredacted(logger);
  const observe = observer(metrics.httpDuration);
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    // Read now: the proxy rewrites req.url to the upstream path later on.
    const path = req.path;
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeLabel(req);
      observe({ method: req.method, route, status_code: String(res.statusCode) }, seconds);
      lines.info(
        {
          requestId: requestIdOf(req),
          traceId: traceIdOf(req),
          method: req.method,
          path,
          route,
          status: res.statusCode,
          durationMs: Math.round(seconds * 1e4) / 10,
        },
        'request',
      );
    });
    next();
  };
}
