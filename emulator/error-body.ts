import type { RequestContext } from './http-util';
import { sendJson } from './http-util';

/** The ErrorBody model of tokens-openapi.json, with the fields Genesys fills in. */
export interface ErrorBody {
  message: string;
  code: string;
  status: number;
  messageWithParams: string;
  messageParams: Record<string, string>;
  contextId: string;
  details: { errorCode?: string; fieldName?: string; entityId?: string; entityName?: string }[];
  errors: ErrorBody[];
}

/** Seconds a synthetic 429 asks the caller to wait. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** Code and message Genesys documents (x-inin-error-codes) for each status the API may answer. */
const DEFAULTS: Record<number, { code: string; message: string }> = {
  400: {
    code: 'bad.request',
    message: 'The request could not be understood by the server due to malformed syntax.',
  },
  401: { code: 'bad.credentials', message: 'Invalid login credentials.' },
  403: {
    code: 'not.authorized',
    message: 'You are not authorized to perform the requested action.',
  },
  404: { code: 'not.found', message: 'The requested resource was not found.' },
  405: { code: 'method.not.allowed', message: 'The requested method is not allowed.' },
  408: {
    code: 'client.timeout',
    message:
      'The client did not produce a request within the server timeout limit. This can be caused by a slow network connection and/or large payloads.',
  },
  409: {
    code: 'request.conflict',
    message: 'The request conflicts with the current state of the target resource.',
  },
  413: {
    code: 'request.entity.too.large',
    message: 'The request is over the size limit. Maximum bytes: 1048576',
  },
  415: {
    code: 'unsupported.media.type',
    message:
      'Unsupported Media Type - Unsupported or incorrect media type, such as an incorrect Content-Type value in the header.',
  },
  429: {
    code: 'too.many.requests.retry.after',
    message: 'Rate limit exceeded the maximum. Retry the request in [1] seconds',
  },
  500: {
    code: 'internal.server.error',
    message:
      'The server encountered an unexpected condition which prevented it from fulfilling the request.',
  },
  502: { code: 'bad.gateway', message: 'The upstream service returned an invalid response.' },
  503: {
    code: 'service.unavailable',
    message:
      'Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance).',
  },
  504: { code: 'request.timeout', message: 'The request timed out.' },
};

export function errorBody(
  status: number,
  contextId: string,
  code?: string,
  message?: string,
  details: ErrorBody['details'] = [],
): ErrorBody {
  const fallback = DEFAULTS[status] ?? {
    code: status >= 500 ? 'internal.server.error' : 'bad.request',
    message: `The request failed with status ${status}.`,
  };
  const text = message ?? fallback.message;
  return {
    message: text,
    code: code ?? fallback.code,
    status,
    messageWithParams: text,
    messageParams: {},
    contextId,
    details,
    errors: [],
  };
}

/** A realistic 429: the message names the wait, and Retry-After carries it. */
export function rateLimitBody(contextId: string, retryAfterSeconds: string): ErrorBody {
  return errorBody(
    429,
    contextId,
    'too.many.requests.retry.after',
    `Rate limit exceeded the maximum. Retry the request in [${retryAfterSeconds}] seconds`,
  );
}

export function sendError(
  ctx: RequestContext,
  status: number,
  code?: string,
  message?: string,
  headers: Record<string, string> = {},
): void {
  sendJson(ctx, status, errorBody(status, ctx.correlationId, code, message), headers);
}
