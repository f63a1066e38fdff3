import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AppError } from '../core/errors';
import type { InflightTracker } from './inflight';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import { problemDocument } from './problem';
import { securityHeaders } from './security-headers';

/**
 * Requests Node refuses before the app sees them: a parse error of its HTTP parser, a request
 * that took too long, an HTTP/1.1 request without Host, an Expect other than 100-continue. Left
 * alone, Node answers them bare (a status line and `Connection: close`); here they get the
 * gateway's problem+json, an X-Request-Id and its security headers, like every other answer.
 * Bad input is the client's fault: it is counted and logged at debug, never at error.
 */

/** How long a refused client may take to read its answer and hang up before it is cut. */
const LINGER_MS = 2000;

/** Node's error codes are a fixed vocabulary; anything else is one label, not a new series. */
const KNOWN_CODE = /^(HPE_[A-Z_]+|ERR_[A-Z_]+|E[A-Z]+)$/;

/** What a refusal of Node's HTTP server means for the client; undefined: nothing to answer. */
export function refusalOf(err: NodeJS.ErrnoException): AppError | undefined {
  const code = err.code ?? '';
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AppError(
        431,
        'headers-too-large',
        'The request line and headers are larger than the server accepts.',
      );
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new AppError(
        413,
        'chunk-extensions-too-large',
        'The chunk extensions of the request body are larger than the server accepts.',
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError(408, 'request-timeout', 'The request was not received in time.');
    default:
      // Only the parser's own code goes in the detail: its `reason` may quote the input.
      return code.startsWith('HPE_')
        ? new AppError(400, 'malformed-request', `The request is not valid HTTP/1.1 (${code}).`)
        : undefined;
  }
}

const MISSING_HOST = (): AppError =>
  new AppError(400, 'missing-host', 'An HTTP/1.1 request needs a Host header (RFC 9112 §3.2).');

const UNMET_EXPECTATION = (): AppError =>
  new AppError(417, 'expectation-failed', 'The only expectation supported is 100-continue.');

/**
 * The headers of every refusal: helmet's set as securityHeaders() replays it (the app relaxes
 * only Referrer-Policy, for its own forms, which an error answer has none of), and no-store.
 */
function refusalHeaders(): Array<[string, string]> {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: string) => headers.set(name, value),
    removeHeader: (name: string) => headers.delete(name),
  };
  securityHeaders()({} as never, recorder as never, () => undefined);
  headers.set('Cache-Control', 'no-store');
  return [...headers];
}

/** The status line, headers and body of `problem`'s answer, which ends the connection. */
function answerOf(
  problem: AppError,
  fixed: ReadonlyArray<[string, string]>,
): { status: number; headers: Array<[string, string]>; body: string } {
  const requestId = randomUUID();
  const body = JSON.stringify(problemDocument(problem, requestId));
  return {
    status: problem.status,
    headers: [
      ['Content-Type', 'application/problem+json; charset=utf-8'],
      ['Content-Length', String(Buffer.byteLength(body))],
      ['X-Request-Id', requestId],
      ...fixed,
      ['Connection', 'close'],
    ],
    body,
  };
}

export interface RefusalDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly inflight: InflightTracker;
}

/**
 * Answers Node's refusals on `server` with problem+json; returns the request listener to use,
 * which refuses an HTTP/1.1 request without Host itself (the server must be created with
 * `requireHostHeader: false`, or Node answers it bare before any listener).
 */
export function answerRefusals(
  server: http.Server,
  app: RequestListener,
  { logger, metrics, inflight }: RefusalDeps,
): RequestListener {
  const fixed = refusalHeaders();
  const refused = new WeakSet<Socket>();

  const count = (code: string, status: number | undefined): void => {
    metrics.clientErrors.inc({ code });
    logger.debug({ code, status }, 'request refused before the app');
  };

  const refuse = (res: ServerResponse, problem: AppError): void => {
    count(problem.code, problem.status);
    const answer = answerOf(problem, fixed);
    res.writeHead(answer.status, answer.headers.flat());
    res.end(answer.body);
  };

  server.on('clientError', (err: NodeJS.ErrnoException, duplex) => {
    const socket = duplex as Socket;
    // A failed parser reports again on every later chunk of the same connection.
    if (refused.has(socket)) return;
    refused.add(socket);
    const problem = refusalOf(err);
    count(KNOWN_CODE.test(err.code ?? '') ? (err.code as string) : 'other', problem?.status);
    if (problem === undefined) {
      socket.destroy();
      return;
    }
    if (inflight.bodyInProgress(socket)) {
      // The parser failed inside the body of a request the app already has (and may have
      // answered): an answer written now would be a second one on the connection, and the app's
      // handler would wait for the rest of the body forever. The connection ends instead, once
      // what was written has gone out; whatever is still running sees its request aborted.
      socket.destroySoon();
      const cut = setTimeout(() => socket.destroy(), LINGER_MS);
      cut.unref();
      socket.once('close', () => clearTimeout(cut));
      return;
    }
    // Pipelined requests ahead of the bad one are answered first: bytes written now would be
    // read as their answer.
    inflight.afterAnswers(socket, () => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const answer = answerOf(problem, fixed);
      const head = [
        `HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status] ?? ''}`,
        `Date: ${new Date().toUTCString()}`,
        ...answer.headers.map(([name, value]) => `${name}: ${value}`),
      ].join('\r\n');
      // A staged close (RFC 9112 §9.6): end() sends the answer and a FIN but keeps reading, for
      // a client may still be sending (the rest of a 20 KB header) and closing with its input
      // unread resets the connection, which can cost it the answer. What it still sends goes to
      // the failed parser and is dropped.
      socket.end(`${head}\r\n\r\n${answer.body}`);
      const linger = setTimeout(() => socket.destroy(), LINGER_MS);
      linger.unref();
      socket.once('close', () => clearTimeout(linger));
    });
  });

  // Without a listener Node answers `Expect: anything-but-100-continue` with a bare 417.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
    refuse(res, UNMET_EXPECTATION()),
  );

  return (req, res) => {
    if (req.headers.host === undefined && req.httpVersion === '1.1') refuse(res, MISSING_HOST());
    else app(req, res);
  };
}
