import { DEFAULT_RETRY_AFTER_SECONDS, errorBody, rateLimitBody } from './error-body';
import type { RequestContext } from './http-util';
import { send } from './http-util';
import { renderErrorPage } from './login-page';
import type { Fault, FaultMatch } from './types';

/** A truncated TokenInfo: what a proxy cutting a response short would deliver. */
export const MALFORMED_JSON = '{"organization":{"id":"';

interface FaultEntry {
  match: FaultMatch;
  fault: Fault;
  remaining: number | undefined;
}

function matches(match: FaultMatch, ctx: RequestContext): boolean {
  if (match.operation !== undefined && match.operation !== ctx.operation) return false;
  if (match.method !== undefined && match.method.toUpperCase() !== ctx.method) return false;
  if (match.path instanceof RegExp) return match.path.test(ctx.path);
  if (match.path !== undefined) return match.path === ctx.path;
  return true;
}

/** Faults in the order they were added; the first live match applies (so `times` chains). */
export class FaultRegistry {
  private entries: FaultEntry[] = [];

  add(match: FaultMatch, fault: Fault): void {
    if (match.times !== undefined && (!Number.isInteger(match.times) || match.times < 1)) {
      throw new Error('fault times must be a positive integer');
    }
    this.entries.push({ match, fault, remaining: match.times });
  }

  clear(): void {
    this.entries = [];
  }

  take(ctx: RequestContext): Fault | undefined {
    const entry = this.entries.find((e) => matches(e.match, ctx));
    if (!entry) return undefined;
    if (entry.remaining !== undefined) {
      entry.remaining -= 1;
      if (entry.remaining === 0) this.entries = this.entries.filter((e) => e !== entry);
    }
    return entry.fault;
  }
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/** The body a real Genesys host would send with this status: ErrorBody, OAuth error or HTML. */
function realisticBody(ctx: RequestContext, status: number, headers: Record<string, string>) {
  if (status < 400) return { body: '', type: undefined };
  if (ctx.operation === 'token') {
    const error =
      status === 401
        ? 'invalid_client'
        : status === 503
          ? 'temporarily_unavailable'
          : status >= 500
            ? 'server_error'
            : 'invalid_request';
    const body = JSON.stringify({ error, error_description: `Emulated failure (${status})` });
    return { body, type: 'application/json' };
  }
  if (!ctx.path.startsWith('/api/')) {
    return { body: renderErrorPage(`Error ${status}`, 'Emulated failure.'), type: 'text/html' };
  }
  const retryAfter = headerValue(headers, 'retry-after') ?? String(DEFAULT_RETRY_AFTER_SECONDS);
  const value =
    status === 429
      ? rateLimitBody(ctx.correlationId, retryAfter)
      : errorBody(status, ctx.correlationId);
  return { body: JSON.stringify(value), type: 'application/json' };
}

export type FaultOutcome = 'answered' | 'continue';

/**
 * Applies a fault after its latency. 'continue' means the emulator answers normally (with the
 * fault's headers added); anything else has been answered, reset or left hanging here.
 */
export function applyFault(ctx: RequestContext, fault: Fault): FaultOutcome {
  const headers = fault.headers ?? {};
  if (fault.reset) {
    // A TCP RST, so the client sees ECONNRESET rather than a clean close.
    ctx.req.socket.resetAndDestroy();
    return 'answered';
  }
  if (fault.hang) return 'answered';
  if (fault.malformed) {
    send(ctx, fault.status ?? 200, MALFORMED_JSON, { 'content-type': 'application/json' });
    return 'answered';
  }
  if (fault.status === undefined && fault.body === undefined) {
    ctx.extraHeaders = headers;
    return 'continue';
  }
  const status = fault.status ?? 200;
  const own: Record<string, string> = {};
  let body: string;
  if (fault.body === undefined) {
    const made = realisticBody(ctx, status, headers);
    body = made.body;
    if (made.type) own['content-type'] = made.type;
  } else {
    body = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
    own['content-type'] = 'application/json';
  }
  if (status === 429 && headerValue(headers, 'retry-after') === undefined) {
    own['retry-after'] = String(DEFAULT_RETRY_AFTER_SECONDS);
  }
  ctx.extraHeaders = headers;
  send(ctx, status, body, own);
  return 'answered';
}
