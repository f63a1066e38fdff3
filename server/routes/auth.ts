import type { IncomingMessage } from 'node:http';
import { Router, type Request, type Response } from 'express';
import type { Config } from '../../config/types';
import { isLoopbackHost } from '../../config/schema';
import type { Metrics } from '../core/metrics';
import type { GenesysClient } from '../genesys/client';
import { AppError, BadRequestError, MethodNotAllowedError } from '../core/errors';
import { parseReturnTo } from './return-to';
import { singleQuery, singleValue } from './query';
import { createLoginSecrets } from '../session/pkce';
import {
  holdsPendingLogin,
  type LoginStates,
  type loginTransactions,
} from '../session/login-transaction';
import type { Logout } from '../session/logout';
import type { StartSession } from '../session/start-session';
import type { FrameBindings } from '../session/frame-binding';
import type { Handoffs } from '../session/handoff';
import { sendPopupPage } from './popup-page';
import { callerOf } from '../genesys/correlation';
import { summarizeUserAgent } from '../session/user-agent';

type Transactions = ReturnType<typeof loginTransactions>;

// Kept beside the request, as its id is (core/request-id.ts): where a callback's login was going,
// so that the page for a callback that fails after opening its transaction can start it again.
const returnTos = new WeakMap<IncomingMessage, string>();

/** The returnTo of the login this callback request was finishing, once its transaction opened. */
export function loginReturnToOf(req: IncomingMessage): string | undefined {
  return returnTos.get(req);
}

// The same for a popup's login (docs/embedded.md#popup-login): its page for a failure cannot
// start it again, only the frame that asked for it can.
const popupRequests = new WeakSet<IncomingMessage>();

/** Whether this login request runs in a frame's login popup. */
export function isPopupLogin(req: IncomingMessage): boolean {
  return popupRequests.has(req);
}

/**
 * Whether the browser reached this listener under another name than PUBLIC_BASE_URL's, as with
 * `localhost` for `127.0.0.1`: the login cookies would stay with that name, and the callback,
 * which Genesys sends to PUBLIC_BASE_URL, would find none. Asked only when the public origin is
 * loopback, and true only for a Host on its port: then no proxy stands between the browser and
 * the gateway, so Host is what the browser used. Behind a proxy, Host may be the proxy's own
 * choice (nginx's default, a dev server's changeOrigin), and redirecting on it could loop.
 */
function reachedUnderAnotherName(req: Request, publicUrl: URL): boolean {
  const host = req.headers.host;
  if (host === undefined || !/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host)) return false;
  let seen: URL;
  try {
    seen = new URL(`${publicUrl.protocol}//${host}`);
  } catch {
    return false;
  }
  return seen.port === publicUrl.port && seen.hostname !== publicUrl.hostname;
}

/** Another name a browser may use for a loopback public origin, to name in the callback's advice. */
function otherLoopbackName(publicUrl: URL): string {
  const other = publicUrl.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
  return `${publicUrl.protocol}//${other}${publicUrl.port ? `:${publicUrl.port}` : ''}`;
}

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
  states: LoginStates;
  transactions: Transactions;
  metrics: Metrics;
  logout: Logout;
  startSession: StartSession;
  /** Embedded only (EMBED_ORIGINS): popup logins, handed over to their frame. */
  popups: { bindings: FrameBindings; handoffs: Handoffs } | undefined;
}): Router {
  const { config, genesys, states, transactions, metrics, logout, startSession, popups } = deps;
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

  const publicUrl = new URL(config.publicOrigin);
  const loopbackPublic = isLoopbackHost(publicUrl.hostname);
  const elsewhere = loopbackPublic ? ` (such as ${otherLoopbackName(publicUrl)})` : '';
  // docs/contract.md#login-failures: the callback's advice when the browser holds no login at all.
  const noPendingLogin = (): AppError =>
    new AppError(
      400,
      'no-pending-login',
      `This browser has no login in progress at ${config.publicOrigin}. Most likely the login ` +
        `was started at another address of this server${elsewhere}, and the browser kept its ` +
        `cookies there: open ${config.publicOrigin}/ and log in from there. A login left ` +
        `unfinished for more than 10 minutes ends the same way.`,
    );

  router.get('/auth/login', (req, res) => {
    const ticket = popups ? singleQuery(req, 'popup') : undefined;
    if (ticket !== undefined && popups) {
      popupRequests.add(req);
      // A popup login for a frame (docs/embedded.md#popup-login): its ticket says which frame
      // and where to go after; COOP unsafe-none keeps the window's opener through the login.
      const { binding, returnTo } = popups.bindings.open(ticket);
      const { state, verifier, challenge } = createLoginSecrets();
      transactions.start(req, res, { state, verifier, returnTo, popup: binding });
      res.setHeader('Cross-Origin-Opener-Policy', 'unsafe-none');
      found(res, 302, `${authorizePrefix}&state=${state}&code_challenge=${challenge}`);
      return;
    }
    const returnTo = parseReturnTo(singleQuery(req, 'returnTo'), config.publicOrigin);
    if (loopbackPublic && reachedUnderAnotherName(req, publicUrl)) {
      // Start the login where Genesys will send the browser back (docs/contract.md#login-failures).
      const query = returnTo === '/' ? '' : `?returnTo=${encodeURIComponent(returnTo)}`;
      found(res, 302, `${config.publicOrigin}/auth/login${query}`);
      return;
    }
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
    let tx;
    try {
      tx = transactions.finish(req, res, state);
    } catch (err) {
      throw holdsPendingLogin(req) ? err : noPendingLogin();
    }
    returnTos.set(req, tx.returnTo);
    if (tx.popup !== undefined && popups) popupRequests.add(req);
    if (!(await states.spend(state))) {
      metrics.logins.inc({ outcome: 'replayed' });
      throw new BadRequestError('This login state was already used: start again at /auth/login.');
    }
    const error = singleValue(query, 'error');
    if (error !== undefined) {
      metrics.logins.inc({ outcome: 'denied' });
      // Echo only the RFC 6749 error code, and only when it has the RFC's shape.
      const code = /^[a-z_]{1,64}$/.test(error) ? error : 'unknown_error';
      throw code === 'access_denied'
        ? new AppError(
            403,
            'login-failed',
            'Genesys did not complete the login: access_denied. The sign-in was cancelled, ' +
              'or this user may not use this app.',
          )
        : new AppError(400, 'login-failed', `Genesys did not complete the login: ${code}.`);
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
        caller: callerOf(req),
      });
    } catch (err) {
      metrics.logins.inc({ outcome: 'failed' });
      throw err;
    }
    let handoffCode: string | undefined;
    try {
      const user = await genesys.getMe(tokens.accessToken, callerOf(req));
      const userAgent = summarizeUserAgent(req.get('user-agent'));
      if (tx.popup !== undefined && popups) {
        // A popup login (docs/embedded.md#popup-login): the session starts in the frame, at
        // handoff; the popup's own session, if it has one, is left alone.
        handoffCode = await popups.handoffs.stage({ user, tokens, userAgent }, tx.popup);
      } else {
        await startSession(req, user, tokens, userAgent);
      }
    } catch (err) {
      metrics.logins.inc({ outcome: 'failed' });
      // No session holds the token we were just given: revoke it rather than leave it live upstream.
      await genesys.revokeMe(tokens.accessToken, callerOf(req)).catch(() => undefined);
      throw err;
    }
    metrics.logins.inc({ outcome: 'ok' });
    if (handoffCode !== undefined) {
      sendPopupPage(res, {
        code: handoffCode,
        returnTo: tx.returnTo,
        publicOrigin: config.publicOrigin,
      });
      return;
    }
    metrics.sessionsStarted.inc();
    found(res, 302, tx.returnTo);
  });

  router.post(
    '/auth/logout',
    // Anti-forgery (Origin stands in for X-CSRF) is mounted in app.ts, before the session is read.
    async (req: Request, res: Response) => {
      await logout(req, res);
      // In a frame (embedded), the Genesys logout page would refuse to show, as its login page
      // does: the frame goes back to the app. Fetch metadata is the browser's word for it.
      const framed = popups !== undefined && req.get('sec-fetch-dest') === 'iframe';
      const target =
        config.idpLogout && !framed
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
