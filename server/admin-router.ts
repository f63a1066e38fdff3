import { Router, type Request, type RequestHandler } from 'express';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { SessionGuard } from './session-guard';
import type { BffSessionStore } from './session-store';
import type { TokenSet } from './genesys-client';
import type { UpstreamCall } from './upstream-proxy';
import { BadRequestError, MethodNotAllowedError } from './errors';
import { jsonBody } from './body';
import { parseIdleTokenTimeout } from './timeout-body';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the audit line calls each admin route. */
function auditAction(req: Request): string {
  const route = (req.route as { path?: string } | undefined)?.path;
  if (route === '/admin/tokens/timeout')
    return req.method === 'PUT' ? 'tokens.timeout.update' : 'tokens.timeout.read';
  if (route === '/admin/users/:userId/tokens') return 'user.tokens.revoke';
  return 'unknown';
}

/**
 * One audit line per admin request, refused ones included (CSRF, no session, invalid body,
 * Genesys 403): written when the answer is out, so the outcome is the status the client saw.
 * Mounted before anti-forgery so that refusals there are audited too.
 */
export function adminAudit(logger: Logger): RequestHandler {
  return (req, res, next) => {
    res.on('finish', () => {
      // Captured when the session was read: a self-revoke destroys the session before this runs.
      const actor =
        (res.locals.actor as { id: string; name: string } | undefined) ?? req.session?.user;
      const userId =
        typeof req.params.userId === 'string' ? req.params.userId.slice(0, 64) : undefined;
      logger.info(
        {
          audit: true,
          actor: actor ? { id: actor.id, name: actor.name } : null,
          action: auditAction(req),
          target: userId ?? (req.route ? 'organization' : req.path.slice(0, 128)),
          method: req.method,
          outcome: res.statusCode,
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
  const router = Router();
  const token = (req: Request): string => (req.tokenSet as TokenSet).accessToken;
  const onUnauthorized: UpstreamCall['onUnauthorized'] = (r, s) => guard.end(r, s, 'upstream_401');

  router.use('/admin', (req, res, next) => {
    res.locals.actor = req.session?.user;
    next();
  });

  router
    .route('/admin/tokens/timeout')
    .get(guard.requireSession, (req, res, next) => {
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
    .route('/admin/users/:userId/tokens')
    .delete(guard.requireSession, (req, res, next) => {
      const { userId } = req.params;
      // Only a UUID goes into the upstream path: no `me`, no dot segments, no encoded slashes.
      if (typeof userId !== 'string' || !UUID.test(userId)) {
        throw new BadRequestError('userId must be a UUID.');
      }
      const self = req.session.user?.id === userId;
      req.upstream = {
        operation: 'deleteToken',
        method: 'DELETE',
        path: `/api/v2/tokens/${userId.toLowerCase()}`,
        accessToken: token(req),
        onUnauthorized,
        async onSuccess() {
          metrics.revocations.inc({ kind: 'user', outcome: 'ok' });
          // Genesys revoked the tokens; sessions holding them must not live on here (every replica
          // shares the store, so this ends them everywhere).
          const ended = await store.destroyUser(userId.toLowerCase());
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
