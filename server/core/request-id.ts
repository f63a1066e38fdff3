import type { IncomingMessage } from 'node:http';

// Kept beside the request, not on it: no global augmentation of Express's Request type.
const ids = new WeakMap<IncomingMessage, string>();

/** Records the request's id (X-Request-Id); the http room's requestId middleware sets it first. */
export function setRequestId(req: IncomingMessage, id: string): void {
  ids.set(req, id);
}

/**
 * The request's X-Request-Id, also sent upstream as ININ-Correlation-Id and on every log line;
 * empty for a request that never went through the requestId middleware.
 */
export function requestIdOf(req: IncomingMessage): string {
  return ids.get(req) ?? '';
}
