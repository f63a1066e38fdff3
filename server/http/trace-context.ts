import { randomFillSync } from 'node:crypto';
import type { RequestHandler } from 'express';
import { TRACE_RANDOM_BYTES, setTraceContext, traceContextFrom } from '../core/trace-context';

/**
 * Adopts the caller's W3C `traceparent` (and its `tracestate`) when valid, else starts a trace;
 * every call to Genesys for the request then carries it (docs/tracing.md). Nothing is echoed:
 * `traceresponse` is a draft, and X-Request-Id is already the handle a caller quotes.
 */
export function traceContext(): RequestHandler {
  // One draw per request into a buffer of this middleware's own, read out as strings at once.
  const random = Buffer.alloc(TRACE_RANDOM_BYTES);
  return (req, _res, next) => {
    randomFillSync(random);
    // Node joins a repeated header with ", ": tracestate as the spec combines it, traceparent
    // into a value no longer valid, so a request with two starts a trace of its own.
    setTraceContext(req, traceContextFrom(req.get('traceparent'), req.get('tracestate'), random));
    next();
  };
}
