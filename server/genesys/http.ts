import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { UpstreamTimeoutError, UpstreamUnavailableError } from '../core/errors';

/** Bodies from Genesys here are small JSON documents; anything larger is not what we expect. */
export const MAX_UPSTREAM_JSON_BYTES = 1024 * 1024;

/**
 * How long an idle pooled socket is kept. Shorter than the idle timeouts of the load balancers in
 * front of Genesys; a server's `Keep-Alive: timeout=N` hint shortens it further (Node's Agent).
 */
const FREE_SOCKET_TIMEOUT_MS = 30_000;

/** One call: method, path on the pool's origin, headers and an optional (already encoded) body. */
export interface UpstreamRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query on the origin, e.g. `/oauth/token`. */
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  readonly body?: string;
  /** A deadline of its own for this call, when it is shorter than the pool's `timeoutMs`. */
  readonly timeoutMs?: number;
  /**
   * Told once how the call went, for metrics: the status as soon as the head arrives, else
   * `timeout` (no head within the deadline) or `error` (no head at all).
   */
  readonly observe?: (outcome: string) => void;
}

/** A complete answer: 3xx included (redirects are never followed). */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Small calls to one upstream origin over a keep-alive pool of its own. */
export interface UpstreamHttp {
  /** The whole answer, its body capped; rejects with UpstreamTimeoutError / UpstreamUnavailableError. */
  request(call: UpstreamRequest): Promise<UpstreamAnswer>;
  /** As `request`, with the body parsed as a JSON object (anything else: UpstreamUnavailableError). */
  requestJson(
    call: UpstreamRequest,
  ): Promise<{ readonly status: number; readonly body: Record<string, unknown> }>;
  /** The pool's keep-alive agent: the proxy to the API host sends its exchanges over it too. */
  readonly agent: http.Agent;
  /** Closes the pooled sockets (tests, shutdown). */
  close(): void;
}

/**
 * The one timeout rule for every call to Genesys: a wall-clock deadline for the whole exchange,
 * head and body, so a slow body cannot stretch it. Calls `expire` with the 504 error when it
 * passes; the returned function cancels it.
 */
export function deadline(
  timeoutMs: number,
  expire: (err: UpstreamTimeoutError) => void,
): () => void {
  const timer = setTimeout(() => expire(new UpstreamTimeoutError()), timeoutMs);
  return () => clearTimeout(timer);
}

/** The body as a JSON object; 502 for anything else (HTML error page, array, truncated text). */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new UpstreamUnavailableError('Genesys Cloud answered with a malformed body.', err);
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return value as Record<string, unknown>;
  }
  throw new UpstreamUnavailableError('Genesys Cloud answered with an unexpected body.');
}

/**
 * `node:http(s).request` over one keep-alive Agent per origin, for the gateway's own small calls
 * to Genesys (token exchange, users/me, revoke). Not `fetch`: on Node 20 undici's per-call
 * overhead (WHATWG streams, Headers, AbortSignal, body mixins) cost more CPU than the rest of a
 * login put together, for bodies of a few hundred bytes (issue 7).
 *
 * Every call has a wall-clock deadline for the whole exchange, head and body (`timeoutMs` → 504);
 * a network failure, a reset mid-body or a body over `maxBodyBytes` is 502. A body is always read
 * to its end or the socket destroyed, so no socket goes back to the pool with bytes left on it.
 */
export function createUpstreamHttp(options: {
  /** Origin (scheme, host, port) every path is sent to; any path in it is ignored. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxBodyBytes?: number;
  /**
   * Sockets per origin; beyond it calls queue (their deadline runs while they wait). Unbounded
   * for the API host, which the proxy shares: http-proxy pipes a request before the proxyReq
   * hook runs, so one queued for a socket would have its headers frozen too early.
   */
  readonly maxSockets?: number;
}): UpstreamHttp {
  const origin = new URL(options.baseUrl);
  const secure = origin.protocol === 'https:';
  const transport = secure ? https : http;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_UPSTREAM_JSON_BYTES;
  const agent = new transport.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? Infinity,
    maxFreeSockets: 256,
    timeout: FREE_SOCKET_TIMEOUT_MS,
    scheduling: 'lifo',
  });
  // WHATWG hostnames keep IPv6 brackets; node:http wants them bare.
  const hostname = origin.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = origin.port === '' ? (secure ? 443 : 80) : Number(origin.port);

  function request(call: UpstreamRequest): Promise<UpstreamAnswer> {
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      let settled = false;
      let observed = false;
      const observe = (outcome: string): void => {
        if (observed) return;
        observed = true;
        call.observe?.(outcome);
      };
      const headers: OutgoingHttpHeaders = { ...call.headers };
      if (call.body !== undefined) headers['Content-Length'] = Buffer.byteLength(call.body);
      const req = transport.request({
        agent,
        hostname,
        port,
        method: call.method,
        path: call.path,
        headers,
      });
      const finish = (err: Error | undefined, answer?: UpstreamAnswer): void => {
        if (settled) return;
        settled = true;
        cancel();
        if (err) {
          observe(err instanceof UpstreamTimeoutError ? 'timeout' : 'error');
          // Also drops a half-read answer, so its socket never returns to the pool.
          req.destroy();
          reject(err);
        } else {
          resolve(answer as UpstreamAnswer);
        }
      };
      const cancel = deadline(
        Math.min(call.timeoutMs ?? options.timeoutMs, options.timeoutMs),
        (err) => finish(err),
      );

      req.on('error', (err) =>
        finish(new UpstreamUnavailableError('Genesys Cloud could not be reached.', err)),
      );
      req.on('response', (res: IncomingMessage) => {
        observe(String(res.statusCode ?? 0));
        readUpstreamBody(res, maxBodyBytes).then(
          (body) =>
            finish(undefined, { status: res.statusCode ?? 502, headers: res.headers, body }),
          (err: Error) => finish(err),
        );
      });
      req.end(call.body);
    });
  }

  return {
    request,
    async requestJson(call) {
      const answer = await request(call);
      return { status: answer.status, body: parseJsonObject(answer.body) };
    },
    agent,
    close: () => agent.destroy(),
  };
}

/** The pools to Genesys: the login host and the API host, one pool when they share an origin. */
export interface GenesysHttp {
  readonly login: UpstreamHttp;
  readonly api: UpstreamHttp;
}

/** The gateway's one HTTP client to Genesys, for its own calls and for the proxied routes. */
export function createGenesysHttp(options: {
  readonly loginBaseUrl: string;
  readonly apiBaseUrl: string;
  readonly timeoutMs: number;
}): GenesysHttp {
  const { loginBaseUrl, apiBaseUrl, timeoutMs } = options;
  const api = createUpstreamHttp({ baseUrl: apiBaseUrl, timeoutMs });
  // Same origin in the emulator and tests: one pool then, not two.
  if (new URL(apiBaseUrl).origin === new URL(loginBaseUrl).origin) return { login: api, api };
  // The login host's pool is bounded: a burst of logins queues rather than opening a socket each.
  return { login: createUpstreamHttp({ baseUrl: loginBaseUrl, timeoutMs, maxSockets: 256 }), api };
}

/**
 * Reads an answer's body to its end, at most `max` bytes (502 beyond, or when the connection
 * goes mid-body): no socket goes back to the pool with bytes left on it.
 */
export function readUpstreamBody(res: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(res.headers['content-length']);
    if (declared > max) {
      reject(new UpstreamUnavailableError('Genesys Cloud answered with an oversized body.'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new UpstreamUnavailableError('Genesys Cloud answered with an oversized body.'));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () =>
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)),
    );
    const cut = (cause?: Error): void =>
      reject(
        new UpstreamUnavailableError('Genesys Cloud closed the connection mid-answer.', cause),
      );
    res.on('error', cut);
    // 'close' without 'end': the connection went before the body was complete.
    res.on('close', () => {
      if (!res.complete) cut();
    });
  });
}
