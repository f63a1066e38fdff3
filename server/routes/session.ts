import type { IRouter, Request, RequestHandler } from 'express';
import type { Forward } from './forward';
import type { SessionGuard } from '../session/guard';
import type { Logout } from '../session/logout';
import { MethodNotAllowedError } from '../core/errors';
import { booleanQuery } from './query';

/**
 * The frontend's view of its own session, mapped onto /api/v2/tokens/me, added to `router` (the
 * app itself: a Router of their own would cost every call a second walk). HEAD with
 * preserveIdleTTL=true becomes a GET upstream with the body dropped: Genesys's HEAD has no such
 * flag, and a polling page must not keep an idle user's token alive.
 */
export function addSessionRoutes(
  router: IRouter,
  deps: {
    guard: SessionGuard;
    forward: Forward;
    logout: Logout;
    /** Run first on every /session route, whatever the method: the app's guards for them. */
    before: RequestHandler[];
  },
): void {
  const { guard, forward, logout, before } = deps;
  const preserveOf = (req: Request): boolean | undefined => booleanQuery(req, 'preserveIdleTTL');

  const verify = guard.authenticated(
    async (req, res, session) => {
      const preserve = preserveOf(req);
      const isHead = req.method === 'HEAD';
      const viaGet = !isHead || preserve === true;
      await forward(
        req,
        res,
        session,
        {
          operation: viaGet ? 'getTokensMe' : 'headTokensMe',
          method: viaGet ? 'GET' : 'HEAD',
          path:
            preserve === undefined
              ? '/api/v2/tokens/me'
              : `/api/v2/tokens/me?preserveIdleTTL=${preserve}`,
        },
        { dropBody: isHead },
      );
    },
    // docs/contract.md#lifetimes: preserveIdleTTL=true keeps the local idle expiry too.
    { keepsIdle: (req) => preserveOf(req) === true },
  );

  router
    .route('/session')
    .all(before)
    .head(verify)
    .get(verify)
    .delete(async (req, res) => {
      await logout(req, res);
      res.status(204).end();
    })
    .all((_req, _res, next) => next(new MethodNotAllowedError(['GET', 'HEAD', 'DELETE'])));
}
