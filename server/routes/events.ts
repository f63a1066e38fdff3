import type { IRouter, RequestHandler, Response } from 'express';
import { AppError, MethodNotAllowedError } from '../core/errors';
import type { Lifecycle } from '../core/lifecycle';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import type { SessionEnded, SessionEvents } from '../session/events';
import type { Deadlines, SessionGuard } from '../session/guard';

/** Streams one session may hold open at a time (tabs share one through the client module). */
export const MAX_STREAMS_PER_SESSION = 5;
/** How often streams are looked at: deadlines by the gateway's clock, heartbeats by real time. */
export const EVENTS_TICK_MS = 1000;
/** A comment line at least this often, so proxies and browsers keep an idle stream open. */
const HEARTBEAT_MS = 25_000;
/** How often a stream re-reads its session's deadlines from the store, at most. */
const RECHECK_MS = 30_000;

/** One open stream. */
interface Stream {
  readonly res: Response;
  readonly sid: string;
  readonly handle: string;
  readonly userId: string;
  deadlines: Deadlines;
  /** The deadline an `expiring` was sent for; another is sent only if the deadline moved. */
  warnedFor: number | undefined;
  /** By the gateway's clock: when to read the deadlines again. */
  checkAt: number;
  checking: boolean;
  /** Real time of the last write, for the heartbeat. */
  lastWrite: number;
}

/**
 * `GET /session/events` (docs/contract.md#session-awareness): Server-Sent Events for one
 * session. `ended` (then the stream closes) reaches every stream of the session on every replica
 * through the session events; `expiring` comes once, `warningMs` before the earliest deadline.
 * Streams never extend an idle timer, never call Genesys, and never hold up shutdown.
 */
export function addEventRoutes(
  router: IRouter,
  deps: {
    guard: SessionGuard;
    events: SessionEvents;
    lifecycle: Lifecycle;
    logger: Logger;
    metrics: Metrics;
    /** Tells the in-flight tracker this answer stays open on purpose. */
    release: (res: Response) => void;
    clock: () => number;
    warningMs: number;
    maxStreams: number;
    /** How often streams are looked at (EVENTS_TICK_MS in the app). */
    tickMs: number;
    before: RequestHandler[];
  },
): void {
  const { guard, events, lifecycle, logger, metrics, clock, warningMs, maxStreams, tickMs } = deps;
  const all = new Set<Stream>();
  const byHandle = new Map<string, Set<Stream>>();
  const byUser = new Map<string, Set<Stream>>();

  const add = (index: Map<string, Set<Stream>>, key: string, stream: Stream): void => {
    const set = index.get(key);
    if (set) set.add(stream);
    else index.set(key, new Set([stream]));
  };
  const drop = (index: Map<string, Set<Stream>>, key: string, stream: Stream): void => {
    const set = index.get(key);
    set?.delete(stream);
    if (set?.size === 0) index.delete(key);
  };

  function write(stream: Stream, text: string): void {
    stream.lastWrite = performance.now();
    stream.res.write(text);
  }

  function send(stream: Stream, event: string, data: unknown): void {
    write(stream, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  function close(stream: Stream, reason?: SessionEnded['reason']): void {
    if (!all.has(stream)) return;
    forget(stream);
    if (reason !== undefined) send(stream, 'ended', { reason });
    stream.res.end();
  }

  function forget(stream: Stream): void {
    if (!all.delete(stream)) return;
    metrics.eventStreams.dec();
    drop(byHandle, stream.handle, stream);
    drop(byUser, stream.userId, stream);
  }

  /** Plans the next look at a stream's deadlines: the warning, the deadline, or a re-read. */
  function plan(stream: Stream, now: number): void {
    const { earliest } = stream.deadlines;
    const warnAt = earliest - warningMs;
    const next = stream.warnedFor === earliest || warnAt <= now ? earliest : warnAt;
    stream.checkAt = Math.min(next, now + RECHECK_MS);
  }

  async function recheck(stream: Stream): Promise<void> {
    stream.checking = true;
    try {
      const fresh = await guard.storedDeadlines(stream.sid);
      const now = clock();
      if (!all.has(stream)) return;
      if (fresh === undefined) {
        // Gone from the store without a message (lost, or it expired and was swept).
        close(stream, now >= stream.deadlines.earliest ? 'expired' : 'logout');
        return;
      }
      stream.deadlines = fresh;
      if (now >= fresh.earliest) {
        close(stream, 'expired');
        return;
      }
      if (now >= fresh.earliest - warningMs && stream.warnedFor !== fresh.earliest) {
        stream.warnedFor = fresh.earliest;
        send(stream, 'expiring', {
          expiresAt: new Date(fresh.earliest).toISOString(),
          kind: fresh.kind,
        });
      }
      plan(stream, now);
    } catch (err) {
      // The store is away: try again later; the stream itself is fine.
      logger.warn({ err: (err as Error).message }, 'session events: deadline check failed');
      stream.checkAt = clock() + RECHECK_MS;
    } finally {
      stream.checking = false;
    }
  }

  // One timer for every stream: deadlines by the gateway's clock, heartbeats by real time.
  const tick = setInterval(() => {
    const now = clock();
    const real = performance.now();
    for (const stream of all) {
      if (!stream.checking && now >= stream.checkAt) void recheck(stream);
      if (real - stream.lastWrite >= HEARTBEAT_MS) write(stream, ': keep-alive\n\n');
    }
  }, tickMs);
  tick.unref();

  // Sessions that end anywhere end their streams here.
  events
    .subscribe((event) => {
      const streams = event.handle !== undefined ? byHandle.get(event.handle) : undefined;
      const ofUser = event.userId !== undefined ? byUser.get(event.userId) : undefined;
      for (const stream of [...(streams ?? []), ...(ofUser ?? [])]) close(stream, event.reason);
    })
    .catch((err: unknown) => {
      logger.error(
        { err },
        'session events: cannot listen; streams will not hear of ended sessions',
      );
    });

  // At shutdown every stream closes at once, without an event: the browser reconnects, to
  // another replica behind the load balancer.
  lifecycle.onShutdown(() => {
    clearInterval(tick);
    for (const stream of [...all]) close(stream);
  });

  const open = guard.authenticated(
    (req, res, session) => {
      const handle = guard.handleOf(req.sessionID);
      if (all.size >= maxStreams || (byHandle.get(handle)?.size ?? 0) >= MAX_STREAMS_PER_SESSION) {
        throw new AppError(
          429,
          'too-many-streams',
          'Too many open event streams; try again later.',
          {
            headers: { 'Retry-After': '10' },
          },
        );
      }
      if (lifecycle.shuttingDown) {
        throw new AppError(503, 'service-unavailable', 'The gateway is shutting down.', {
          headers: { 'Retry-After': '1' },
        });
      }
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      // nginx and other buffering proxies would hold events back.
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      deps.release(res);
      const now = clock();
      const stream: Stream = {
        res,
        sid: req.sessionID,
        handle,
        userId: session.user.id,
        deadlines: guard.deadlinesOf(req.session, session.tokens),
        warnedFor: undefined,
        checkAt: now,
        checking: false,
        lastWrite: performance.now(),
      };
      all.add(stream);
      metrics.eventStreams.inc();
      add(byHandle, handle, stream);
      add(byUser, stream.userId, stream);
      res.on('close', () => forget(stream));
      // The reconnect delay browsers use, and a first line so the stream is known to be open.
      write(stream, 'retry: 3000\n: open\n\n');
      return Promise.resolve();
    },
    // Never activity, and never a Genesys call for a stream.
    { keepsIdle: () => true, refresh: false },
  );

  router
    .route('/session/events')
    .all(deps.before)
    .get(open)
    .all((_req, _res, next) => next(new MethodNotAllowedError(['GET', 'HEAD'])));
}
