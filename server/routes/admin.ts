import { Router, type Request, type RequestHandler } from 'express';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import type { SessionGuard } from '../session/guard';
import type { BffSessionStore } from '../stores/store';
import type { TokenSet } from '../genesys/client';
import type { UpstreamCall } from '../genesys/proxy';
import { BadRequestError, MethodNotAllowedError } from '../core/errors';
import { discardBody, jsonBody } from './body';
import { parseIdleTokenTimeout } from '../genesys/idle-token-timeout';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const TIMEOUT_ROUTE = '/admin/tokens/timeout';
// A wildcard, not `:userId`: an empty id or one holding a slash (`//tokens`, `%2F`) reaches the
// handler and gets the same 400 as any other non-UUID id, instead of slipping to a 404.
const REVOKE_ROUTE = '/admin/users/{*userId}/tokens';
const REVOKE_PATH = /^\/admin\/users\/(.*)\/tokens$/;

/** An audit line's action and target. */
export interface AdminAuditSubject {
  /** `tokens.timeout.read`, `tokens.timeout.update`, `user.tokens.revoke`, or `unknown`. */
  readonly action: string;
  /** `organization` for the timeout, the user id as sent for a revoke, else the path. */
  readonly target: string;
}

/**
 * What an admin request asks for, from its method and raw path: computed before routing, so a
 * request refused early (anti-forgery, no session, bad id) is audited as what it attempted.
 */
export function auditSubject(method: string, path: string): AdminAuditSubject {
  if (path === TIMEOUT_ROUTE) {
    const action =
      method === 'PUT'
        ? 'tokens.timeout.update'
        : method === 'GET' || method === 'HEAD'
          ? 'tokens.timeout.read'
          : 'unknown';
    return { action, target: 'organization' };
  }
  const revoke = REVOKE_PATH.exec(path);
  if (revoke) {
    // Still percent-encoded: the log shows exactly what was sent (`..%2F..%2Ftimeout`).
    const target = (revoke[1] ?? '').slice(0, 64);
    return { action: method === 'DELETE' ? 'user.tokens.revoke' : 'unknown', target };
  }
  return { action: 'unknown', target: path.slice(0, 128) };
}

/**
 * One audit line per admin request, refused ones included (CSRF, no session, invalid body,
 * Genesys 403). Mounted before anti-forgery so that refusals there are audited too; the actor
 * is null when no session was read (no session, or refused before the session is read).
 */
export function adminAudit(logger: Logger): RequestHandler {
  return (req, res, next) => {
    // Read now: the proxy rewrites req.url to the upstream path later on. Not through URL():
    // it would resolve `%2e%2e` and hide what was tried. An absolute-form target loses its origin.
    const path = (req.originalUrl.split('?')[0] ?? '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
    const { action, target } = auditSubject(req.method, path);
    // 'close' rather than 'finish': a client that hangs up mid-request (its revoke may still
    // have reached Genesys) is audited too, with a null outcome.
    res.once('close', () => {
      // Captured when the session was read: a self-revoke destroys the session before this runs.
      const actor =
        (res.locals.actor as { id: string; name: string } | undefined) ?? req.session?.user;
      logger.info(
        {
          audit: true,
          actor: actor ? { id: actor.id, name: actor.name } : null,
          action,
          target,
          method: req.method,
          outcome: res.writableFinished ? res.statusCode : null,
          requestId: req.id,
        },
        'admin action',
      );
    });
    next();
  };
}

/**
 * The org's idle-token timeout and revoking every token of a user. Genesys decides who may: its
 * 403 passes through. Bodies and ids are validated first, so nothing invalid reaches Genesys.
 */
export function adminRouter(deps: {
  guard: SessionGuard;
  proxy: RequestHandler;
  store: BffSessionStore;
  metrics: Metrics;
  logger: Logger;
}): Router {
  const { guard, proxy, store, metrics, logger } = deps;
  // Same matching as the app (strict, case-sensitive): `/admin/tokens/timeout/` and
  // `/ADMIN/...` are unknown routes, never aliases that skip the /admin middleware.
  const router = Router({ strict: true, caseSensitive: true });
  const token = (req: Request): string => (req.tokenSet as TokenSet).accessToken;
  const onUnauthorized: UpstreamCall['onUnauthorized'] = (r, s) => guard.end(r, s, 'upstream_401');

  router.use('/admin', (req, res, next) => {
    res.locals.actor = req.session?.user;
    next();
  });

  router
    .route(TIMEOUT_ROUTE)
    // GET and DELETE bodies are read and dropped: http-proxy would otherwise pipe them onto the
    // upstream keep-alive connection after a Content-Length: 0 request (request smuggling).
    .get(guard.requireSession, discardBody(), (req, res, next) => {
      req.upstream = {
        operation: 'getTokensTimeout',
        method: 'GET',
        path: '/api/v2/tokens/timeout',
        accessToken: token(req),
        onUnauthorized,
      };
      proxy(req, res, next);
    })
    .put(guard.requireSession, ...jsonBody(), (req, res, next) => {
      const body = parseIdleTokenTimeout(req.body);
      req.upstream = {
        operation: 'putTokensTimeout',
        method: 'PUT',
        path: '/api/v2/tokens/timeout',
        accessToken: token(req),
        body,
        onUnauthorized,
      };
      proxy(req, res, next);
    })
    .all((_req, _res, next) => next(new MethodNotAllowedError(['GET', 'HEAD', 'PUT'])));

  router
    .route(REVOKE_ROUTE)
    .delete(guard.requireSession, discardBody(), (req, res, next) => {
      const segments: unknown = req.params.userId;
      const raw = Array.isArray(segments) ? segments.join('/') : segments;
      // Only a UUID goes into the upstream path: no `me`, no dot segments, no encoded slashes.
      if (typeof raw !== 'string' || !UUID.test(raw)) {
        throw new BadRequestError(
          'userId must be a UUID, e.g. /admin/users/3b9e7d10-6a2c-4f85-b1d3-9c8e2a4f7b52/tokens.',
        );
      }
      // Genesys user ids are lower-case UUIDs; the session index holds them as Genesys sent them.
      const userId = raw.toLowerCase();
      const self = req.session.user?.id.toLowerCase() === userId;
      req.upstream = {
        operation: 'deleteToken',
        method: 'DELETE',
        path: `/api/v2/tokens/${userId}`,
        accessToken: token(req),
        onUnauthorized,
        async onSuccess() {
          metrics.revocations.inc({ kind: 'user', outcome: 'ok' });
          // Genesys revoked the tokens; sessions holding them must not live on here (every replica
          // shares the store, so this ends them everywhere).
          const ended = await store.destroyUser(userId);
          logger.info({ requestId: req.id, userId, ended }, 'user sessions ended after revoke');
          // A self-revoke also clears this browser's cookie; guard.end counts that session.
          const others = self ? ended - 1 : ended;
          if (others > 0) metrics.sessionsEnded.inc({ reason: 'revoked' }, others);
          if (self) await guard.end(req, res, 'revoked');
        },
      };
      proxy(req, res, next);
    })
    .all((_req, _res, next) => next(new MethodNotAllowedError(['DELETE'])));

  return router;
}
