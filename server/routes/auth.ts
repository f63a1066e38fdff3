import { Router, type Request, type Response } from 'express';
import type { Config } from '../../config/types';
import type { Metrics } from '../core/metrics';
import type { GenesysClient } from '../genesys/client';
import type { SessionGuard } from '../session/guard';
import { AppError, BadRequestError, MethodNotAllowedError } from '../core/errors';
import { parseReturnTo } from './return-to';
import { singleQuery, singleValue } from './query';
import { regenerateSession, saveSession } from '../session/session-ops';
import { createLoginSecrets } from '../session/pkce';
import { hasCookie, type LoginStates, type loginTransactions } from '../session/login-transaction';
import type { EndReplaced, Logout } from '../session/logout';
import { requestIdOf } from '../core/request-id';
import { summarizeUserAgent } from '../session/user-agent';

type Transactions = ReturnType<typeof loginTransactions>;

/**
 * A redirect with an empty body: res.redirect would negotiate a "Redirecting to" text or HTML
 * body nobody reads, on every login. res.location still escapes what a header cannot carry.
 */
function found(res: Response, status: 302 | 303, location: string): void {
  res.location(location).status(status).setHeader('Content-Length', '0');
  res.end();
}

/**
 * Login (authorization code + PKCE S256, RFC 9700 §2.1.1) and logout. The callback regenerates
 * the session id (fixation), and a state is good for one use across all replicas (spent in the store).
 */
export function authRouter(deps: {
  config: Config;
  genesys: GenesysClient;
  guard: SessionGuard;
  states: LoginStates;
  transactions: Transactions;
  metrics: Metrics;
  logout: Logout;
  endReplaced: EndReplaced;
}): Router {
  const { config, genesys, guard, states, transactions, metrics, logout, endReplaced } = deps;
  // A Router does not inherit the app's routing settings: `/Session` and `/session/` must not
  // reach these handlers past the case-sensitive, strict mounts of anti-forgery and session.
  const router = Router({ strict: true, caseSensitive: true });

  // Everything but the state and the challenge is the same for every login: built once.
  const authorize = new URL(`${config.genesys.loginBaseUrl}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.oauth.clientId,
    redirect_uri: config.oauth.redirectUri,
    code_challenge_method: 'S256',
  }).toString();
  const authorizePrefix = authorize.toString();

  router.get('/auth/login', (req, res) => {
    const returnTo = parseReturnTo(singleQuery(req, 'returnTo'), config.publicOrigin);
    const { state, verifier, challenge } = createLoginSecrets();
    transactions.start(req, res, { state, verifier, returnTo });
    // Both are base64url: nothing in them needs escaping in a query.
    found(res, 302, `${authorizePrefix}&state=${state}&code_challenge=${challenge}`);
  });

  router.get('/auth/callback', async (req, res) => {
    const query = req.query;
    const state = singleValue(query, 'state');
    if (state === undefined || state.length === 0 || state.length > 256) {
      throw new BadRequestError('The login callback has no state: start again at /auth/login.');
    }
    const tx = transactions.finish(req, res, state);
    if (!(await states.spend(state))) {
      metrics.logins.inc({ outcome: 'replayed' });
      throw new BadRequestError('This login state was already used: start again at /auth/login.');
    }
    const error = singleValue(query, 'error');
    if (error !== undefined) {
      metrics.logins.inc({ outcome: 'denied' });
      // Echo only the RFC 6749 error code, and only when it has the RFC's shape.
      const code = /^[a-z_]{1,64}$/.test(error) ? error : 'unknown_error';
      throw new AppError(
        code === 'access_denied' ? 403 : 400,
        'login-failed',
        `Genesys did not complete the login: ${code}.`,
      );
    }
    const code = singleValue(query, 'code');
    if (code === undefined || code.length === 0 || code.length > 2048) {
      throw new BadRequestError('The login callback has no code.');
    }
    let tokens;
    try {
      tokens = await genesys.exchangeCode({
        code,
        verifier: tx.verifier,
        requestId: requestIdOf(req),
      });
    } catch (err) {
      metrics.logins.inc({ outcome: 'failed' });
      throw err;
    }
    // Logging in again over a live session replaces it: once its record is gone, so is its token.
    const previousUser = req.session?.user;
    const previousTokens = previousUser ? guard.tokensOf(req) : undefined;
    const previous =
      previousUser && previousTokens && previousTokens.accessToken !== tokens.accessToken
        ? { sid: req.sessionID, userId: previousUser.id, tokens: previousTokens }
        : undefined;
    let replaced = false;
    try {
      const user = await genesys.getMe(tokens.accessToken, requestIdOf(req));
      // A new id at login: a session id planted before login is worth nothing after it. Without
      // a session cookie the id is new already (express-session made it for this request);
      // regenerating it would only cost a store delete and, as express-session then loses track
      // of the explicit save, a second store write when the response ends.
      if (hasCookie(req, config.session.cookieName)) {
        await regenerateSession(req);
        replaced = true;
      }
      guard.establish(req, user, tokens, summarizeUserAgent(req.get('user-agent')));
      await saveSession(req);
    } catch (err) {
      metrics.logins.inc({ outcome: 'failed' });
      // No session holds the token we were just given: revoke it rather than leave it live upstream.
      await genesys.revokeMe(tokens.accessToken, requestIdOf(req)).catch(() => undefined);
      throw err;
    } finally {
      if (replaced && previous) await endReplaced(req, previous);
    }
    metrics.logins.inc({ outcome: 'ok' });
    metrics.sessionsStarted.inc();
    found(res, 302, tx.returnTo);
  });

  router.post(
    '/auth/logout',
    // Anti-forgery (Origin stands in for X-CSRF) is mounted in app.ts, before the session is read.
    async (req: Request, res: Response) => {
      await logout(req, res);
      const target = config.idpLogout
        ? `${config.genesys.loginBaseUrl}/logout?${new URLSearchParams({
            client_id: config.oauth.clientId,
            redirect_uri: `${config.publicOrigin}/`,
          }).toString()}`
        : '/';
      res.redirect(303, target);
    },
  );

  // A known path asked with another method is a 405 with Allow, not a 404
  // (docs/contract.md#route-rules).
  router.all(['/auth/login', '/auth/callback'], (_req, _res, next) =>
    next(new MethodNotAllowedError(['GET', 'HEAD'])),
  );
  router.all('/auth/logout', (_req, _res, next) => next(new MethodNotAllowedError(['POST'])));

  return router;
}
