/**
 * The one error type of the gateway. Everything the gateway refuses or fails at is an AppError;
 * the error handler (server/http/problem.ts) is the only place that turns one into an HTTP
 * answer, a log line and a metric.
 */
export class AppError extends Error {
  /** HTTP status of the problem+json answer. */
  readonly status: number;
  /** Stable machine-readable code; also the last segment of the problem `type`. */
  readonly code: string;
  /** Human-readable detail for the client: never a token, secret or stack. */
  readonly detail: string;
  /** Extra members for the problem body (RFC 9457 extension members), e.g. `errors`. */
  readonly extensions: Record<string, unknown>;
  /** Extra response headers, e.g. Allow or Retry-After. */
  readonly headers: Record<string, string>;
  /** Fields for the log line only, never sent (e.g. the Genesys operation that failed). */
  readonly logFields: Record<string, unknown> = {};

  constructor(
    status: number,
    code: string,
    detail: string,
    options: {
      cause?: unknown;
      extensions?: Record<string, unknown>;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  /** Adds fields to this error's log line; returns the error, to throw or reject with. */
  withLogFields(fields: Record<string, unknown>): this {
    Object.assign(this.logFields, fields);
    return this;
  }
}

/** 400: the request is malformed or fails validation. */
export class BadRequestError extends AppError {
  constructor(detail: string, extensions?: Record<string, unknown>) {
    super(400, 'bad-request', detail, extensions ? { extensions } : {});
  }
}

/** 401: no live session, or Genesys no longer accepts its token. */
export class UnauthenticatedError extends AppError {
  constructor(detail = 'No valid session: log in at /auth/login.') {
    super(401, 'unauthenticated', detail);
  }
}

/** 403: an anti-forgery rule refused the request. */
export class ForbiddenError extends AppError {
  constructor(detail: string) {
    super(403, 'forbidden', detail);
  }
}

/** 404: no such route. */
export class NotFoundError extends AppError {
  constructor(detail = 'No such route.') {
    super(404, 'not-found', detail);
  }
}

/** 405: the route exists but not for this method. */
export class MethodNotAllowedError extends AppError {
  constructor(allowed: readonly string[]) {
    super(405, 'method-not-allowed', `Allowed methods: ${allowed.join(', ')}.`, {
      headers: { Allow: allowed.join(', ') },
    });
  }
}

/** 502: Genesys could not be reached or answered garbage. */
export class UpstreamUnavailableError extends AppError {
  constructor(detail = 'Genesys Cloud could not be reached.', cause?: unknown) {
    super(502, 'upstream-unavailable', detail, { cause });
  }
}

/** 504: Genesys did not answer within UPSTREAM_TIMEOUT_MS. */
export class UpstreamTimeoutError extends AppError {
  constructor(detail = 'Genesys Cloud did not answer in time.', cause?: unknown) {
    super(504, 'upstream-timeout', detail, { cause });
  }
}

/** 503: the session store is unreachable, or the gateway is shutting down. */
export class ServiceUnavailableError extends AppError {
  constructor(detail = 'The session store is unavailable; try again shortly.', cause?: unknown) {
    super(503, 'service-unavailable', detail, { cause, headers: { 'Retry-After': '1' } });
  }
}
