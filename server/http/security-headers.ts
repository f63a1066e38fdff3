import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * helmet's headers, worked out once. With the options used here none of them depends on the
 * request (no CSP nonce or other function-valued directive), yet helmet builds the CSP string and
 * walks its fifteen middlewares on every request: a profile put that near a tenth of the
 * gateway's CPU. helmet stays the source of the set; this replays what it sets (and removes).
 */
export function securityHeaders(options: HelmetOptions = {}): RequestHandler {
  const csp = options.contentSecurityPolicy;
  const directives = typeof csp === 'object' ? Object.values(csp.directives ?? {}) : [];
  if (
    directives.some(
      (v) =>
        typeof v === 'function' || (Array.isArray(v) && v.some((x) => typeof x === 'function')),
    )
  ) {
    throw new TypeError('a CSP directive depends on the request: it cannot be worked out once');
  }
  const set = new Map<string, string>();
  const removed = new Set<string>();
  const recorder = {
    setHeader(name: string, value: string) {
      set.set(name, value);
      removed.delete(name);
    },
    removeHeader(name: string) {
      set.delete(name);
      removed.add(name);
    },
  } as unknown as ServerResponse;
  let failure: unknown;
  helmet(options)({} as IncomingMessage, recorder, (err?: unknown) => {
    failure = err;
  });
  if (failure !== undefined) throw failure as Error;
  const headers = [...set];
  const removals = [...removed];

  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    for (const name of removals) res.removeHeader(name);
    next();
  };
}
