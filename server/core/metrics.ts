import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics, on a registry of its own (no global singleton: tests build many apps). */
export interface Metrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly genesysDuration: Histogram<'operation' | 'status_code'>;
  readonly logins: Counter<'outcome'>;
  readonly sessionsStarted: Counter;
  readonly sessionsEnded: Counter<'reason'>;
  readonly revocations: Counter<'kind' | 'outcome'>;
  readonly refreshes: Counter<'outcome'>;
  readonly storeErrors: Counter;
  readonly clientErrors: Counter<'code'>;
  readonly eventStreams: Gauge;
}

/** Builds the metrics with process metrics (CPU, memory, event loop lag) included. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Duration of HTTP requests served by the gateway',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    genesysDuration: new Histogram({
      name: 'genesys_request_duration_seconds',
      help: 'Duration of calls to Genesys Cloud, by operation',
      labelNames: ['operation', 'status_code'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    logins: new Counter({
      name: 'bff_logins_total',
      help: 'Completed login callbacks, by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    sessionsStarted: new Counter({
      name: 'bff_sessions_started_total',
      help: 'Sessions created at login',
      registers,
    }),
    sessionsEnded: new Counter({
      name: 'bff_sessions_ended_total',
      help: 'Sessions ended, by reason (logout, replaced, upstream_401, expired, revoked, refresh_failed, unreadable)',
      labelNames: ['reason'],
      registers,
    }),
    revocations: new Counter({
      name: 'bff_token_revocations_total',
      help: 'Token revocations sent to Genesys (self = logout, replaced = a login over a live session, user = admin revoke of a user)',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    refreshes: new Counter({
      name: 'bff_token_refreshes_total',
      help: 'Access-token refreshes with a refresh token, by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    storeErrors: new Counter({
      name: 'bff_session_store_errors_total',
      help: 'Session store operations that failed',
      registers,
    }),
    clientErrors: new Counter({
      name: 'bff_client_errors_total',
      help: "Requests refused before the app saw them, by Node's error code (HPE_*, ERR_HTTP_REQUEST_TIMEOUT, ECONNRESET, …) or missing-host / expectation-failed",
      labelNames: ['code'],
      registers,
    }),
    eventStreams: new Gauge({
      name: 'bff_event_streams_open',
      help: 'GET /session/events streams open in this process',
      registers,
    }),
  };
}

/**
 * Observes into `histogram` through one child per label set, made on first use. prom-client
 * otherwise sorts and hashes the label object on every observation, on the request path. Label
 * values must be bounded (route templates, operations, status codes), as for any metric.
 */
export function observer<L extends string>(
  histogram: Histogram<L>,
): (labels: Record<L, string>, seconds: number) => void {
  const children = new Map<string, { observe(seconds: number): void }>();
  return (labels, seconds) => {
    const key = Object.values(labels).join('\u0000');
    let child = children.get(key);
    if (child === undefined) {
      child = histogram.labels(labels);
      children.set(key, child);
    }
    child.observe(seconds);
  };
}

/**
 * Times calls to Genesys for `genesys_request_duration_seconds`, the proxy's and the client's
 * alike: `start(operation)` begins one call, and the function it returns records it with its
 * outcome (the status code, `timeout` or `error`).
 */
export function genesysTimer(metrics: Metrics): (operation: string) => (outcome: string) => void {
  const observe = observer(metrics.genesysDuration);
  return (operation) => {
    const started = process.hrtime.bigint();
    return (outcome) =>
      observe({ operation, status_code: outcome }, Number(process.hrtime.bigint() - started) / 1e9);
  };
}
