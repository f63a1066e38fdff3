import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Genesys refuses bodies over its limit with 413; the emulator uses 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Per-request context shared by the router, the handlers and the fault layer. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: Record<string, string>;
  searchParams: URLSearchParams;
  /** Path parameters of the matched route, e.g. userId. */
  params: Record<string, string>;
  body: string;
  bodyTooLarge: boolean;
  operation: string;
  correlationId: string;
  /** Fault headers that decorate whatever the handler answers. */
  extraHeaders: Record<string, string>;
  /** Set for API operations: the rate-limit headers Genesys sends. */
  apiHeaders: Record<string, string>;
}

export interface ReadBody {
  body: string;
  tooLarge: boolean;
}

/** Reads the whole body, keeping at most MAX_BODY_BYTES (the rest is drained, not kept). */
export function readBody(req: IncomingMessage): Promise<ReadBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    const done = (): void => resolve({ body: Buffer.concat(chunks).toString('utf8'), tooLarge });
    req.on('end', done);
    req.on('error', done);
    req.on('aborted', done);
  });
}

/** First value of each query parameter, as Genesys reads single-valued parameters. */
export function firstValues(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of params) if (!(key in out)) out[key] = value;
  return out;
}

const SAFE_CORRELATION_ID = /^[\x21-\x7e]{1,128}$/;

/** Genesys echoes the caller's ININ-Correlation-Id, else mints one. */
export function correlationIdFor(req: IncomingMessage): string {
  const given = req.headers['inin-correlation-id'];
  const value = Array.isArray(given) ? given[0] : given;
  return value !== undefined && SAFE_CORRELATION_ID.test(value) ? value : randomUUID();
}

export function send(
  ctx: RequestContext,
  status: number,
  body: string,
  headers: Record<string, string>,
): void {
  const { res } = ctx;
  if (res.headersSent || res.destroyed) return;
  // Merged case-insensitively so a fault header replaces, not duplicates, the normal one.
  const all: Record<string, string> = {};
  const merge = (from: Record<string, string>): void => {
    for (const [key, value] of Object.entries(from)) all[key.toLowerCase()] = value;
  };
  merge(ctx.apiHeaders);
  merge(headers);
  // RFC 9110 §8.6: no Content-Length on 204 (nor a body).
  if (status !== 204) merge({ 'content-length': String(Buffer.byteLength(body)) });
  merge(ctx.extraHeaders);
  res.writeHead(status, all);
  res.end(status === 204 ? '' : body);
}

export function sendJson(
  ctx: RequestContext,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, JSON.stringify(value), {
    'Content-Type': 'application/json',
    ...headers,
  });
}

export function sendEmpty(ctx: RequestContext, status: number): void {
  send(ctx, status, '', {});
}

export function sendHtml(
  ctx: RequestContext,
  status: number,
  html: string,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, html, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
  });
}

export function redirect(ctx: RequestContext, location: string): void {
  send(ctx, 302, '', { Location: location, 'Cache-Control': 'no-store' });
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The media type without parameters, lower case; '' when absent. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
