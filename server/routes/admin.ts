import { Router } from 'express';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import type { SessionGuard } from '../session/guard';
import { BadRequestError, MethodNotAllowedError } from '../core/errors';
import { parseIdleTokenTimeout } from '../genesys/idle-token-timeout';
import { discardBodyOf, readJsonBody } from './body';
import type { Forward } from './forward';
import { REVOKE_ROUTE, TIMEOUT_ROUTE } from './admin-audit';
import { requestIdOf } from '../core/request-id';
import { traceIdOf } from '../core/trace-context';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The org's idle-token timeout and revoking every token of a user. Genesys decides who may: its
 * 403 passes through. Bodies and ids are validated first, so nothing invalid reaches Genesys.
 */
export function adminRouter(deps: {
  guard: SessionGuard;
  forward: Forward;
  metrics: Metrics;
  logger: Logger;
}): Router {
  const { guard, forward, metrics, logger } = deps;
  // Same matching as the app (strict, case-sensitive): `/admin/tokens/timeout/` and
  // `/ADMIN/...` are unknown routes, never aliases that skip the /admin middleware.
  const router = Router({ strict: true, caseSensitive: true });

  router
    .route(TIMEOUT_ROUTE)
    // GET and DELETE bodies are read and dropped: http-proxy would otherwise pipe them onto the
    // upstream keep-alive connection after a Content-Length: 0 request (request smuggling).
    .get(
      guard.authenticated(async (req, res, session) => {
        await discardBodyOf(req, res);
        await forward(req, res, session, {
          operation: 'getTokensTimeout',
          method: 'GET',
          path: '/api/v2/tokens/timeout',
        });
      }),
    )
    .put(
      guard.authenticated(async (req, res, session) => {
        const body = parseIdleTokenTimeout(await readJsonBody(req, res));
        await forward(req, res, session, {
          operation: 'putTokensTimeout',
          method: 'PUT',
          path: '/api/v2/tokens/timeout',
          body,
        });
      }),
    )
    .all((_req, _res, next) => next(new MethodNotAllowedError(['GET', 'HEAD', 'PUT'])));

  router
    .route(REVOKE_ROUTE)
    .delete(
      guard.authenticated(async (req, res, session) => {
        await discardBodyOf(req, res);
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
        await forward(
          req,
          res,
          session,
          { operation: 'deleteToken', method: 'DELETE', path: `/api/v2/tokens/${userId}` },
          {
            async onSuccess() {
              metrics.revocations.inc({ kind: 'user', outcome: 'ok' });
              // Genesys revoked the tokens; sessions holding them must not live on here (every
              // replica shares the store, so this ends them everywhere).
              const ended = await guard.endUser(req, res, userId, 'revoked');
              logger.info(
                { requestId: requestIdOf(req), traceId: traceIdOf(req), userId, ended },
                'user sessions ended after revoke',
              );
            },
          },
        );
      }),
    )
    .all((_req, _res, next) => next(new MethodNotAllowedError(['DELETE'])));

  return router;
}
