import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestHandler } from 'express';

/**
 * Makes `res` the last answer of its connection if it has not started yet: `Connection: close`
 * is set as the headers go out, over whatever the handler set (http-proxy copies `keep-alive`),
 * and Node then closes the socket once the answer is sent.
 */
function lastOnItsConnection(res: ServerResponse): void {
  if (res.headersSent) return;
  const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
  res.writeHead = (...args: unknown[]) => {
    res.setHeader('Connection', 'close');
    return writeHead(...args);
  };
}

/**
 * Counts requests whose handlers have not answered yet. A client that hangs up does not end its
 * request here: the handler may still be waiting on Genesys and then write to the store, so
 * shutdown must wait for the answer, not for the socket, before it closes the store.
 *
 * It also knows which connections have answers open (not yet sent in full or abandoned), so that
 * at shutdown each connection closes with its last answer instead of idling in keep-alive, and a
 * malformed pipelined request is refused only after the answers ahead of it.
 */
export class InflightTracker {
  private active = 0;
  private waiters: Array<() => void> = [];
  /** Answers not closed yet: being written, or waiting for their handler. */
  private readonly open = new Set<ServerResponse>();
  /** How many of them each connection has; a connection without an entry has none. */
  private readonly openOn = new WeakMap<Socket, number>();
  private readonly idleWaiters = new WeakMap<Socket, Array<() => void>>();
  private closing = false;
  private readonly leaving = new WeakMap<ServerResponse, () => void>();
  /** The last request each connection carried, to tell whether its body is still coming. */
  private readonly lastRequest = new WeakMap<Socket, IncomingMessage>();

  /** Requests in progress now. */
  get count(): number {
    return this.active;
  }

  /**
   * Mounted first: its res.end wrapper is then the innermost one, so it runs after
   * express-session's (which writes the session) has done its store work.
   */
  readonly track: RequestHandler = (req, res, next) => {
    this.active += 1;
    const socket = req.socket;
    this.lastRequest.set(socket, req);
    this.open.add(res);
    this.openOn.set(socket, (this.openOn.get(socket) ?? 0) + 1);
    // 'close' comes once the answer is sent in full, or when the connection is lost first.
    res.on('close', () => this.closed(res, socket));
    if (this.closing) lastOnItsConnection(res);
    const end = res.end.bind(res) as (...a: unknown[]) => typeof res;
    let left = false;
    const leaveOnce = (): void => {
      if (left) return;
      left = true;
      this.leave();
    };
    this.leaving.set(res, leaveOnce);
    res.end = ((...args: unknown[]) => {
      leaveOnce();
      return end(...args);
    }) as typeof res.end;
    next();
  };

  /**
   * Stops counting `res` as in progress: an answer that stays open on purpose (an event
   * stream) must not hold up shutdown, which ends it instead. Its connection is still tracked.
   */
  release(res: ServerResponse): void {
    this.leaving.get(res)?.();
  }

  /** Resolves once no request is in progress. */
  drained(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Shutdown: from now on every connection closes with its last answer (RFC 9112 §9.6). Answers
   * not started yet, and those of requests still to come on open connections, say
   * `Connection: close`; a connection whose answer went out saying keep-alive is ended once
   * that answer is sent.
   */
  closeConnections(): void {
    this.closing = true;
    for (const res of this.open) lastOnItsConnection(res);
  }

  /**
   * Whether `socket`'s last request has not been received in full: a parser error on it now is
   * in that request's body, not in a new request (the app has that request already).
   */
  bodyInProgress(socket: Socket): boolean {
    const req = this.lastRequest.get(socket);
    return req !== undefined && !req.complete;
  }

  /** Runs `then` once `socket` has no answer open: at once when it has none. */
  afterAnswers(socket: Socket, then: () => void): void {
    if (!this.openOn.has(socket)) {
      then();
      return;
    }
    const waiting = this.idleWaiters.get(socket);
    if (waiting) waiting.push(then);
    else this.idleWaiters.set(socket, [then]);
  }

  private closed(res: ServerResponse, socket: Socket): void {
    this.open.delete(res);
    const left = (this.openOn.get(socket) ?? 1) - 1;
    if (left > 0) {
      this.openOn.set(socket, left);
      return;
    }
    this.openOn.delete(socket);
    const waiting = this.idleWaiters.get(socket);
    if (waiting) {
      this.idleWaiters.delete(socket);
      for (const then of waiting) then();
    }
    // After the last byte is flushed, not at once: destroy() would drop what is still buffered.
    if (this.closing && !socket.destroyed) socket.destroySoon();
  }

  private leave(): void {
    this.active -= 1;
    if (this.active === 0) for (const resolve of this.waiters.splice(0)) resolve();
  }
}
