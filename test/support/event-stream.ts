import http from 'node:http';
import type { BrowserClient } from './browser-client';

/** One Server-Sent Event as the stream carried it. */
export interface StreamEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** An open `GET /session/events` as a test reads it. */
export interface OpenStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Events so far (comments are not events). */
  readonly events: StreamEvent[];
  /** The raw text so far, comments included. */
  text(): string;
  /** Resolves once the server has closed the stream. */
  readonly closed: Promise<void>;
  /** Resolves with the first event named `name`, or rejects after `timeoutMs`. */
  next(name: string, timeoutMs?: number): Promise<StreamEvent>;
  close(): void;
}

/**
 * Opens the stream with `client`'s cookies, as EventSource does: a GET with no X-CSRF header.
 * Resolves once the answer's head is in (error answers are read to their end).
 */
export function openStream(
  client: BrowserClient,
  headers: Record<string, string> = {},
  path = '/session/events',
): Promise<OpenStream> {
  const url = new URL(path, client.origin);
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { headers: { Accept: 'text/event-stream', Cookie: client.cookieHeaderFor(url), ...headers } },
      (res) => {
        let raw = '';
        const events: StreamEvent[] = [];
        const waiters: Array<() => void> = [];
        let parsedUpTo = 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          raw += chunk;
          // Whole events only: they end with a blank line.
          let end: number;
          while ((end = raw.indexOf('\n\n', parsedUpTo)) >= 0) {
            const block = raw.slice(parsedUpTo, end);
            parsedUpTo = end + 2;
            const name = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (name !== undefined && data !== undefined) {
              events.push({ event: name, data: JSON.parse(data) as Record<string, unknown> });
            }
          }
          for (const wake of waiters.splice(0)) wake();
        });
        const closed = new Promise<void>((done) => res.on('close', () => done()));
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          events,
          text: () => raw,
          closed,
          next(name, timeoutMs = 5000) {
            return new Promise((found, fail) => {
              const timer = setTimeout(
                () => fail(new Error(`no ${name} event in ${timeoutMs} ms; got: ${raw}`)),
                timeoutMs,
              );
              const look = (): void => {
                const hit = events.find((e) => e.event === name);
                if (hit) {
                  clearTimeout(timer);
                  found(hit);
                } else waiters.push(look);
              };
              look();
            });
          },
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
  });
}
