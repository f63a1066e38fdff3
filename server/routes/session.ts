import type { IRouter, Request, RequestHandler, Response } from 'express';
import type { SessionGuard } from '../session/guard';
import type { Logout } from '../session/logout';
import type { TokenSet } from '../genesys/client';
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
    proxy: RequestHandler;
    logout: Logout;
    /** Run first on every /session route, whatever the method: the app's guards for them. */
    before: RequestHandler[];
  },
): void {
  const { guard, proxy, logout, before } = deps;
  const endOnUnauthorized = (req: Request, res: Response): Promise<void> =>
    guard.end(req, res, 'upstream_401');

  // SPEC Part 2: preserveIdleTTL=true keeps the local idle expiry too, not only Genesys's.
  const requireSession = guard.requireSessionKeepingIdle(
    (req) => booleanQuery(req, 'preserveIdleTTL') === true,
  );

  const toUpstream: RequestHandler = (req, _res, next) => {
    const preserve = booleanQuery(req, 'preserveIdleTTL');
    const isHead = req.method === 'HEAD';
    const viaGet = !isHead || preserve === true;
    req.upstream = {
      operation: viaGet ? 'getTokensMe' : 'headTokensMe',
      method: viaGet ? 'GET' : 'HEAD',
      path:
        preserve === undefined
          ? '/api/v2/tokens/me'
          : `/api/v2/tokens/me?preserveIdleTTL=${preserve}`,
      accessToken: (req.tokenSet as TokenSet).accessToken,
      dropBody: isHead,
      onUnauthorized: endOnUnauthorized,
    };
    next();
  };

  router
    .route('/session')
    .all(before)
    .head(requireSession, toUpstream, proxy)
    .get(requireSession, toUpstream, proxy)
    .delete(async (req, res) => {
      await logout(req, res);
      res.status(204).end();
    })
    .all((_req, _res, next) => next(new MethodNotAllowedError(['GET', 'HEAD', 'DELETE'])));
}
