import { parse as parseUrl } from 'node:url';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Request, Response } from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { genesysTimer, type Metrics } from '../core/metrics';
import { AppError, UpstreamTimeoutError, UpstreamUnavailableError } from '../core/errors';
import { MAX_UPSTREAM_JSON_BYTES, deadline, readUpstreamBody, type UpstreamHttp } from './http';
import { callerOf, correlationHeaders } from './correlation';

/** One exchange with the Genesys API that a route asks for. */
export interface UpstreamCall {
  /** Genesys operation name, for metrics (e.g. `getTokensMe`). */
  readonly operation: string;
  readonly method: string;
  /** Path and query on the API host, e.g. `/api/v2/tokens/me?preserveIdleTTL=true`. */
  readonly path: string;
  readonly accessToken: string;
  /** JSON body to send (already validated); the browser's body stream is never forwarded. */
  readonly body?: unknown;
}

/** What Genesys answered, read in full; nothing of it has reached the browser yet. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** The proxy to the Genesys API host: one exchange per call, answered to the caller. */
export interface UpstreamProxy {
  /**
   * Sends `call` upstream on behalf of `req` and resolves with the answer; rejects with a 502 or
   * 504 AppError when Genesys cannot be reached or is too slow. Never writes to `res`.
   */
  exchange(req: Request, res: Response, call: UpstreamCall): Promise<UpstreamAnswer>;
}

/** Of the upstream headers only these reach the browser (docs/contract.md#genesys-answers-passed-through). */
const PASSED_HEADERS = /^(content-type|retry-after|inin-correlation-id|inin-ratelimit-.*)$/i;

function isJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends a checked answer on, as the contract says: the status, the allowed headers and the JSON
 * body, or no body at all with `dropBody` (HEAD answered from a GET).
 */
export function sendUpstreamAnswer(res: Response, answer: UpstreamAnswer, dropBody = false): void {
  res.status(answer.status);
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined && PASSED_HEADERS.test(name)) res.setHeader(name, value);
  }
  if (dropBody || answer.body.length === 0) {
    res.removeHeader('content-type');
    // Said outright: a HEAD answer without it leaves some clients waiting for a body.
    res.setHeader('Content-Length', '0');
    res.end();
  } else {
    res.end(answer.body);
  }
}

/**
 * Throws unless the answer can be relayed: a gateway that promises JSON relays only JSON. A body
 * that is not is refused: 502 on a success, the upstream status as a problem otherwise.
 */
export function checkUpstreamAnswer(answer: UpstreamAnswer, dropBody = false): void {
  const { status, body } = answer;
  const contentType = String(answer.headers['content-type'] ?? '');
  if (body.length > 0 && !dropBody && !(/json/i.test(contentType) && isJson(body))) {
    if (status < 400) {
      throw new UpstreamUnavailableError('Genesys Cloud answered with a malformed body.');
    }
    throw new AppError(status, 'upstream-error', `Genesys Cloud answered ${status}.`);
  }
}

/** An exchange in progress: what prepare() sends and where the answer goes. */
interface Pending {
  readonly call: UpstreamCall;
  resolve(answer: UpstreamAnswer): void;
  reject(err: unknown): void;
}

/**
 * The one proxy to the Genesys API host (http-proxy-middleware v3), over the API pool the
 * gateway's own calls use. It injects the bearer token, correlation id and traceparent, forwards none of the
 * browser's headers (no cookie, no CSRF header), and hands the answer back to the route: what
 * reaches the browser, and every error, leaves through the route and the one error handler.
 */
export function createUpstreamProxy(options: {
  apiBaseUrl: string;
  pool: UpstreamHttp;
  timeoutMs: number;
  metrics: Metrics;
}): UpstreamProxy {
  const timeGenesys = genesysTimer(options.metrics);
  // Keyed by the request: each exchange's call travels from exchange() to http-proxy's hooks
  // here, in this module only.
  const pending = new WeakMap<IncomingMessage, Pending>();

  const proxy = createProxyMiddleware<Request, Response>({
    // Parsed once here: http-proxy parses a string target again on every request.
    target: parseUrl(options.apiBaseUrl),
    agent: options.pool.agent,
    changeOrigin: true,
    xfwd: false,
    selfHandleResponse: true,
    // The route decided the exact upstream path; the browser's path never reaches Genesys.
    pathRewrite: (_path, req) => pending.get(req)?.call.path ?? '/',
    // Not HPM's default plugins: they log every exchange (building URLs for it even with no
    // logger) and add listeners to each response; this proxy answers its own events and errors.
    ejectPlugins: true,
    plugins: [
      (proxyServer) => {
        proxyServer.on('proxyReq', (proxyReq, req) => {
          try {
            prepare(proxyReq, req);
          } catch (err) {
            // Never throw inside http-proxy's socket listener: that would take the process down.
            proxyReq.destroy(err instanceof Error ? err : new Error(String(err)));
          }
        });
        proxyServer.on('proxyRes', (proxyRes, req) => {
          const exchange = pending.get(req);
          if (!exchange) return void proxyRes.destroy();
          readUpstreamBody(proxyRes, MAX_UPSTREAM_JSON_BYTES).then(
            (body) =>
              exchange.resolve({
                status: proxyRes.statusCode ?? 502,
                headers: proxyRes.headers,
                body,
              }),
            (err: unknown) => {
              // Oversized or cut short: this socket must not go back to the pool.
              proxyRes.destroy();
              const operation = exchange.call.operation;
              exchange.reject(err instanceof AppError ? err.withLogFields({ operation }) : err);
            },
          );
        });
        proxyServer.on('error', (err, req, res) => {
          // http-proxy also reports errors of upgrade sockets here; this gateway serves none.
          if (!('status' in res)) {
            res.destroy();
            return;
          }
          const exchange = pending.get(req);
          if (!exchange) return;
          const failure =
            err instanceof AppError
              ? err
              : new UpstreamUnavailableError('Genesys Cloud could not be reached.', err);
          exchange.reject(failure.withLogFields({ operation: exchange.call.operation }));
        });
      },
    ],
  });

  function prepare(proxyReq: ClientRequest, req: Request): void {
    const exchange = pending.get(req);
    if (!exchange) {
      proxyReq.destroy(new AppError(500, 'internal', 'Proxy called without an upstream call.'));
      return;
    }
    const { call } = exchange;
    for (const name of proxyReq.getHeaderNames()) {
      if (name !== 'host' && name !== 'accept' && name !== 'user-agent')
        proxyReq.removeHeader(name);
    }
    proxyReq.method = call.method;
    proxyReq.setHeader('Authorization', `Bearer ${call.accessToken}`);
    for (const [name, value] of Object.entries(correlationHeaders(callerOf(req)))) {
      proxyReq.setHeader(name, value);
    }
    proxyReq.setHeader('Accept', 'application/json');
    const end = timeGenesys(call.operation);
    const cancel = deadline(options.timeoutMs, (err) => proxyReq.destroy(err));
    proxyReq.on('close', cancel);
    proxyReq.on('response', (proxyRes) => {
      proxyRes.on('close', cancel);
      end(String(proxyRes.statusCode ?? 0));
    });
    proxyReq.on('error', (err) => end(err instanceof UpstreamTimeoutError ? 'timeout' : 'error'));
    // http-proxy pipes the browser's request stream into proxyReq. Cut that pipe: the upstream
    // body is only ever the validated one, so bytes a route forgot to read cannot be smuggled
    // onto the shared keep-alive connection as a second request.
    req.unpipe(proxyReq);
    if (call.body !== undefined) {
      const json = JSON.stringify(call.body);
      proxyReq.setHeader('Content-Type', 'application/json');
      proxyReq.setHeader('Content-Length', Buffer.byteLength(json));
      proxyReq.end(json);
    } else {
      proxyReq.setHeader('Content-Length', '0');
      proxyReq.end();
    }
  }

  return {
    exchange(req, res, call) {
      return new Promise<UpstreamAnswer>((resolve, reject) => {
        pending.set(req, { call, resolve, reject });
        // http-proxy skips its proxyReq event, and so prepare(), for a request that carries
        // Expect: the browser's cookie and headers would go upstream, without the token, and a
        // body-bearing call would never end. Node has answered 100-continue already.
        delete req.headers.expect;
        proxy(req, res, (err?: unknown) =>
          reject(err ?? new AppError(500, 'internal', 'The proxy passed the request on.')),
        ).catch(reject);
      }).finally(() => pending.delete(req));
    },
  };
}
