import http from 'node:http';
import { types } from 'node:util';
import https from 'node:https';
import { parse as parseUrl } from 'node:url';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Logger } from '../core/logger';
import { genesysTimer, type Metrics } from '../core/metrics';
import {
  AppError,
  UnauthenticatedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../core/errors';
import { sendProblem } from '../http/problem';

/** What a route asks the proxy to do: set by the route handler just before handing over. */
export interface UpstreamCall {
  /** Genesys operation name, for metrics (e.g. `getTokensMe`). */
  readonly operation: string;
  readonly method: string;
  /** Path and query on the API host, e.g. `/api/v2/tokens/me?preserveIdleTTL=true`. */
  readonly path: string;
  readonly accessToken: string;
  /** JSON body to send (already validated); the browser's body stream is never forwarded. */
  readonly body?: unknown;
  /** Drop the upstream body (HEAD answered from a GET). */
  readonly dropBody?: boolean;
  /** Upstream said 401: the route ends the local session; the client then hears 401. */
  onUnauthorized(req: Request, res: Response): Promise<void>;
  /** Runs after a 2xx and before the answer is sent (e.g. end local sessions of a revoked user). */
  onSuccess?(status: number): Promise<void>;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      upstream?: UpstreamCall;
    }
  }
}

/** SPEC: of the upstream headers only these reach the browser. */
const PASSED_HEADERS = /^(content-type|retry-after|inin-correlation-id|inin-ratelimit-.*)$/i;
/** Bodies from Genesys here are small JSON documents; anything larger is not what we expect. */
const MAX_UPSTREAM_BODY = 1024 * 1024;

function readBody(proxyRes: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    proxyRes.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_UPSTREAM_BODY) {
        proxyRes.destroy();
        reject(new UpstreamUnavailableError('Genesys Cloud answered with an oversized body.'));
        return;
      }
      chunks.push(chunk);
    });
    proxyRes.on('end', () => resolve(Buffer.concat(chunks)));
    proxyRes.on('error', (err) =>
      reject(new UpstreamUnavailableError('Genesys Cloud closed the connection mid-answer.', err)),
    );
    proxyRes.on('aborted', () =>
      reject(new UpstreamUnavailableError('Genesys Cloud closed the connection mid-answer.')),
    );
  });
}

function isJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * The one proxy to the Genesys API host (http-proxy-middleware v3). Each request carries its
 * `req.upstream` call: the proxy injects the bearer token and correlation id, forwards none of the
 * browser's headers (no cookie, no CSRF header), keeps only SPEC's allowed upstream headers, and
 * maps network failures and timeouts through the one problem serializer (STYLE.md §4).
 */
export function createUpstreamProxy(options: {
  apiBaseUrl: string;
  timeoutMs: number;
  metrics: Metrics;
  logger: Logger;
}): RequestHandler {
  const target = new URL(options.apiBaseUrl);
  const AgentClass = target.protocol === 'https:' ? https.Agent : http.Agent;
  // Keep-alive pool: a TLS handshake per request would dominate the latency of these small calls.
  // No maxSockets cap: a request queued for a socket would have its headers frozen before the
  // proxyReq hook runs (http-proxy pipes the request stream first).
  const agent = new AgentClass({ keepAlive: true, maxFreeSockets: 256 });
  const timeGenesys = genesysTimer(options.metrics);

  const proxy = createProxyMiddleware<Request, Response>({
    // Parsed once here: http-proxy parses a string target again on every request.
    target: parseUrl(options.apiBaseUrl),
    agent,
    changeOrigin: true,
    xfwd: false,
    selfHandleResponse: true,
    // The route decided the exact upstream path; the browser's path never reaches Genesys.
    pathRewrite: (_path, req) => req.upstream?.path ?? '/',
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
        proxyServer.on('proxyRes', (proxyRes, req, res) => {
          void relay(proxyRes, req, res);
        });
        proxyServer.on('error', (err, req, res) => {
          // http-proxy also reports errors of upgrade sockets here; this gateway serves none.
          if (!('status' in res)) {
            res.destroy();
            return;
          }
          fail(
            req,
            res,
            err instanceof AppError
              ? err
              : new UpstreamUnavailableError('Genesys Cloud could not be reached.', err),
          );
        });
      },
    ],
  });

  function prepare(proxyReq: ClientRequest, req: Request): void {
    const call = req.upstream;
    if (!call) {
      proxyReq.destroy(new AppError(500, 'internal', 'Proxy called without an upstream call.'));
      return;
    }
    for (const name of proxyReq.getHeaderNames()) {
      if (name !== 'host' && name !== 'accept' && name !== 'user-agent')
        proxyReq.removeHeader(name);
    }
    proxyReq.method = call.method;
    proxyReq.setHeader('Authorization', `Bearer ${call.accessToken}`);
    proxyReq.setHeader('ININ-Correlation-Id', req.id);
    proxyReq.setHeader('Accept', 'application/json');
    const end = timeGenesys(call.operation);
    // Wall-clock deadline for the whole exchange, so a slow body cannot stretch it.
    const timer = setTimeout(() => proxyReq.destroy(new UpstreamTimeoutError()), options.timeoutMs);
    proxyReq.on('close', () => clearTimeout(timer));
    proxyReq.on('response', (proxyRes) => {
      proxyRes.on('close', () => clearTimeout(timer));
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

  async function relay(proxyRes: IncomingMessage, req: Request, res: Response): Promise<void> {
    const call = req.upstream as UpstreamCall;
    const status = proxyRes.statusCode ?? 502;
    try {
      const body = await readBody(proxyRes);
      if (status === 401) {
        // SPEC: upstream 401 ends the local session; the client learns to log in again.
        await call.onUnauthorized(req, res);
        throw new UnauthenticatedError('Genesys no longer accepts this session: log in again.');
      }
      const contentType = String(proxyRes.headers['content-type'] ?? '');
      if (body.length > 0 && !call.dropBody && !(/json/i.test(contentType) && isJson(body))) {
        // A gateway that promises JSON must not relay an HTML error page or a truncated document.
        if (status < 400)
          throw new UpstreamUnavailableError('Genesys Cloud answered with a malformed body.');
        throw new AppError(status, 'upstream-error', `Genesys Cloud answered ${status}.`);
      }
      if (status >= 200 && status < 300 && call.onSuccess) await call.onSuccess(status);
      res.status(status);
      for (const [name, value] of Object.entries(proxyRes.headers)) {
        if (value !== undefined && PASSED_HEADERS.test(name)) res.setHeader(name, value);
      }
      if (call.dropBody || body.length === 0) {
        res.removeHeader('content-type');
        // Said outright: a HEAD answer without it leaves some clients waiting for a body.
        res.setHeader('Content-Length', '0');
        res.end();
      } else {
        res.end(body);
      }
    } catch (err) {
      fail(req, res, err);
    }
  }

  /** Answers with the one problem serializer; gateway-made 5xx get a warning line with the cause. */
  function fail(req: Request, res: Response, err: unknown): void {
    const problem = sendProblem(req, res, err);
    if (problem.status >= 500 && problem.code !== 'upstream-error') {
      // isNativeError, not instanceof: errors from node:net may come from another realm (jest).
      const cause = types.isNativeError(problem.cause)
        ? `${(problem.cause as NodeJS.ErrnoException).code ?? problem.cause.name}: ${problem.cause.message}`
        : undefined;
      options.logger.warn(
        { requestId: req.id, operation: req.upstream?.operation, status: problem.status, cause },
        problem.detail,
      );
    }
  }

  return (req, res, next) => {
    proxy(req, res, next).catch(next);
  };
}
