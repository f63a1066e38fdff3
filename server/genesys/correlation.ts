import type { IncomingMessage } from 'node:http';
import { requestIdOf } from '../core/request-id';
import { nextTraceparent, traceOf, type TraceContext } from '../core/trace-context';

/**
 * The browser request a call to Genesys is made for, as the call needs it: its ids, not the
 * request itself (docs/contract.md#request-ids, docs/tracing.md).
 */
export interface Caller {
  readonly requestId: string;
  readonly trace: TraceContext;
}

/** The ids `req` carries to Genesys. */
export function callerOf(req: IncomingMessage): Caller {
  return { requestId: requestIdOf(req), trace: traceOf(req) };
}

/**
 * The headers naming `caller` on one call to Genesys: ININ-Correlation-Id, which Genesys echoes
 * and logs, and a `traceparent` with a parent-id of this call's own, plus the caller's
 * `tracestate` when it was kept. Call once per call sent: each one hands out a new parent-id.
 */
export function correlationHeaders(caller: Caller): Record<string, string> {
  const headers: Record<string, string> = {
    'ININ-Correlation-Id': caller.requestId,
    traceparent: nextTraceparent(caller.trace),
  };
  if (caller.trace.tracestate !== undefined) headers.tracestate = caller.trace.tracestate;
  return headers;
}
