import { types } from 'node:util';
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from '../core/logger';
import { AppError, ServiceUnavailableError } from '../core/errors';
import { requestIdOf } from '../core/request-id';
import { traceIdOf } from '../core/trace-context';
import { errorPage, isLoginRoute, wantsErrorPage } from './error-page';

/** RFC 9457 problem type URIs are URNs: stable identifiers that promise no documentation host. */
const TYPE_PREFIX = 'urn:tokens-bff:problem:';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** body-parser signals its failures through `type`; they are client errors, not 500s. */
function fromBodyParser(err: { type?: unknown; status?: unknown }): AppError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return new AppError(400, 'malformed-json', 'The request body is not valid JSON.');
    case 'entity.too.large':
      return new AppError(413, 'body-too-large', 'The request body is larger than the limit.');
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new AppError(
        415,
        'unsupported-encoding',
        'The request body encoding is not supported.',
      );
    case 'request.aborted':
      return new AppError(400, 'request-aborted', 'The request body was not received in full.');
    default:
      return undefined;
  }
}

/**
 * Errors of the libraries below us that already say "client fault" with a 4xx `status` (or
 * `statusCode`): a body that does not decode (zlib's error, given 400 by body-parser), a broken
 * percent-escape the router could not decode (URIError, 400). Their own messages are not echoed:
 * they name internals (`Failed to decode param`, zlib's codes) and sometimes the input itself.
 */
function fromClientFault(err: { status?: unknown; statusCode?: unknown }): AppError | undefined {
  const status = typeof err.status === 'number' ? err.status : err.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 499) {
    return undefined;
  }
  if (err instanceof URIError) {
    return new AppError(400, 'malformed-path', 'The request path has a broken percent-escape.');
  }
  if ((err as { code?: unknown }).code?.toString().startsWith('Z_') || err instanceof RangeError) {
    return new AppError(
      400,
      'malformed-body',
      'The request body does not decode as its Content-Encoding says.',
    );
  }
  return new AppError(status, 'bad-request', 'The request is malformed.');
}

/** Maps anything thrown to the one error type; unknown errors become a generic 500. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (typeof err === 'object' && err !== null) {
    // A dependency that says it cannot serve (the session store's StoreUnavailableError).
    if ((err as { status?: unknown }).status === 503) {
      return new ServiceUnavailableError(undefined, err);
    }
    const mapped = fromBodyParser(err) ?? fromClientFault(err);
    if (mapped) return mapped;
  }
  return new AppError(500, 'internal', 'An unexpected error occurred.', { cause: err });
}

/**
 * The RFC 9457 document of `problem`, as every problem answer of the gateway carries it; also
 * written by client-error.ts for the requests Node refuses before the app sees them.
 */
export function problemDocument(problem: AppError, requestId: string): Record<string, unknown> {
  return {
    type: `${TYPE_PREFIX}${problem.code}`,
    title: TITLES[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.detail,
    requestId,
    ...problem.extensions,
  };
}

/**
 * Writes `err` as application/problem+json, or as a small HTML page for a browser navigating to
 * a login route (docs/contract.md#login-failures). Safe to call once headers are out: it then
 * just ends.
 */
export function sendProblem(req: Request, res: Response, err: unknown): AppError {
  const problem = toAppError(err);
  if (res.headersSent) {
    res.end();
    return problem;
  }
  for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
  res.status(problem.status);
  let body: string;
  // A login route's error answers by the request's Accept and Sec-Fetch-Mode: caches must know.
  if (isLoginRoute(req)) res.vary('Accept').vary('Sec-Fetch-Mode');
  if (wantsErrorPage(req)) {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    body = errorPage(req, {
      status: problem.status,
      title: TITLES[problem.status] ?? 'Error',
      code: problem.code,
      detail: problem.detail,
      requestId: requestIdOf(req),
    });
  } else {
    res.type('application/problem+json');
    body = JSON.stringify(problemDocument(problem, requestIdOf(req)));
  }
  // HEAD answers carry no body (RFC 9110 §9.3.2); the status still tells the story.
  if (req.method === 'HEAD') res.end();
  else res.send(body);
  return problem;
}

/** The last middleware: every error of the app ends here. 5xx are logged with their cause. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const problem = sendProblem(req, res, err);
    // A Genesys 5xx passed through is Genesys's to log; client faults are never logged here.
    if (problem.status < 500 || problem.code === 'upstream-error') return;
    const fields = {
      requestId: requestIdOf(req),
      traceId: traceIdOf(req),
      status: problem.status,
      ...problem.logFields,
    };
    if (problem.status === 500) {
      // Only a bug makes a 500: the whole cause, stack included, at error level.
      logger.error({ ...fields, err: problem.cause ?? problem }, problem.detail);
    } else {
      // Genesys or the store unavailable: an outage, not a bug. One line naming the cause.
      logger.warn({ ...fields, cause: causeOf(problem.cause) }, problem.detail);
    }
  };
}

/** `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1`, or undefined when there is no native cause. */
function causeOf(cause: unknown): string | undefined {
  // isNativeError, not instanceof: errors from node:net may come from another realm (jest).
  if (!types.isNativeError(cause)) return undefined;
  return `${(cause as NodeJS.ErrnoException).code ?? cause.name}: ${cause.message}`;
}
