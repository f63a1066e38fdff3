import type { IRouter, Request, RequestHandler } from 'express';
import type { Forward } from './forward';
import type { SessionGuard } from '../session/guard';
import type { Logout } from '../session/logout';
import type { MySessions } from '../session/my-sessions';
import { MethodNotAllowedError, NotFoundError } from '../core/errors';
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
    mySessions: MySessions;
    /** Run first on every /session route, whatever the method: the app's guards for them. */
    before: RequestHandler[];
  },
): void {
  const { guard, forward, logout, mySessions, before } = deps;
  const noteTokenIdles = (req: Request, body: Buffer): void => {
    try {
      const idles = (JSON.parse(body.toString('utf8')) as { dateTokenIdles?: unknown })
        .dateTokenIdles;
      const at = typeof idles === 'string' ? Date.parse(idles) : NaN;
      if (Number.isFinite(at)) guard.noteTokenIdles(req, at);
    } catch {
      // Not a TokenInfo: nothing to learn from it (the answer is checked elsewhere).
    }
  };
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
        {
          dropBody: isHead,
          // A TokenInfo passing through says when Genesys will idle the token out.
          onSuccess: viaGet ? (answer) => noteTokenIdles(req, answer.body) : undefined,
        },
      );
    },
    // docs/contract.md#lifetimes: preserveIdleTTL=true keeps the local idle expiry too.
    { keepsIdle: (req) => preserveOf(req) === true },
  );

  // docs/contract.md#session-awareness: who is logged in and when the session ends, from the
  // session itself (no Genesys call); with preserveIdleTTL=true it does not count as activity.
  const user = guard.authenticated(
    (req, res, session) => {
      const stored = req.session;
      const d = guard.deadlinesOf(stored, session.tokens);
      const iso = (ms: number): string => new Date(ms).toISOString();
      res.json({
        user: { id: session.user.id, name: session.user.name },
        session: {
          createdAt: iso(stored.createdAt ?? Date.now()),
          expiresAt: iso(d.earliest),
          idleExpiresAt: iso(d.idle),
          absoluteExpiresAt: iso(d.absolute),
        },
        token: {
          expiresAt: iso(session.tokens.expiresAt),
          refreshable: session.tokens.refreshToken !== undefined,
          idlesAt: stored.tokenIdlesAt === undefined ? null : iso(stored.tokenIdlesAt),
        },
      });
      return Promise.resolve();
    },
    { keepsIdle: (req) => preserveOf(req) === true },
  );

  const allMine = guard.authenticated(async (req, res, session) => {
    res.json({ sessions: await mySessions.list(req, session.user) });
  });

  const endOne = guard.authenticated(async (req, res, session) => {
    const handle = req.params.handle;
    if (typeof handle !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(handle)) {
      throw new NotFoundError('No such session of yours.');
    }
    if ((await mySessions.end(req, res, session.user, { handle })) === 0) {
      throw new NotFoundError('No such session of yours.');
    }
    res.status(204).end();
  });

  const endOthers = guard.authenticated(async (req, res, session) => {
    await mySessions.end(req, res, session.user, 'others');
    res.status(204).end();
  });

  const notAllowed =
    (allowed: string[]): RequestHandler =>
    (_req, _res, next) =>
      next(new MethodNotAllowedError(allowed));

  router
    .route('/session/user')
    .all(before)
    .get(user)
    .all(notAllowed(['GET', 'HEAD']));
  router
    .route('/session/all')
    .all(before)
    .get(allMine)
    .all(notAllowed(['GET', 'HEAD']));
  router
    .route('/session/all/:handle')
    .all(before)
    .delete(endOne)
    .all(notAllowed(['DELETE']));
  router
    .route('/session/others')
    .all(before)
    .delete(endOthers)
    .all(notAllowed(['DELETE']));

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
