import { Router } from 'express';
import type { Config } from '../../config/types';
import type { Metrics } from '../core/metrics';
import type { GenesysClient } from '../genesys/client';
import { BadRequestError, MethodNotAllowedError } from '../core/errors';
import { callerOf } from '../genesys/correlation';
import type { FrameBindings } from '../session/frame-binding';
import type { Handoffs } from '../session/handoff';
import type { StartSession } from '../session/start-session';
import { readJsonBody } from './body';
import { parseReturnTo } from './return-to';
import { POPUP_SCRIPT, POPUP_SCRIPT_PATH } from './popup-page';

/**
 * Login inside a frame (docs/embedded.md#popup-login). Genesys's login page refuses to be
 * framed, and the frame's cookies are partitioned: so the frame asks for a login URL, opens it
 * in a popup (a top-level window, where the normal code + PKCE flow runs), and the popup's
 * callback page hands the frame a one-time code that `POST /auth/handoff` turns into the frame's
 * own partitioned session. Anti-forgery (X-CSRF, Origin) and the session are mounted in app.ts.
 */
export function popupLoginRouter(deps: {
  config: Config;
  bindings: FrameBindings;
  handoffs: Handoffs;
  startSession: StartSession;
  genesys: GenesysClient;
  metrics: Metrics;
}): Router {
  const { config, bindings, handoffs, startSession, genesys, metrics } = deps;
  const router = Router({ strict: true, caseSensitive: true });

  router.post('/auth/popup', async (req, res) => {
    // The body is optional: `{"returnTo":"/app"}`, where the frame goes once logged in.
    // As fetch() sends a POST without a body: Content-Length 0.
    const announced =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] ?? '0') !== '0';
    const body = announced ? await readJsonBody(req, res) : {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestError('The body must be a JSON object, like {"returnTo":"/app"}.');
    }
    const returnTo = parseReturnTo((body as { returnTo?: unknown }).returnTo, config.publicOrigin);
    const ticket = bindings.ticket(bindings.bind(req, res), returnTo);
    res.json({ loginUrl: `${config.publicOrigin}/auth/login?popup=${ticket}` });
  });

  router.post('/auth/handoff', async (req, res) => {
    const body = await readJsonBody(req, res);
    const code = (body as { code?: unknown } | null)?.code;
    if (typeof code !== 'string') {
      throw new BadRequestError('The body must be a JSON object with the code, like {"code":"…"}.');
    }
    const binding = bindings.digestIn(req);
    if (binding === undefined) {
      throw new BadRequestError(
        "This frame has no popup login in progress (its binding cookie is missing; a browser that blocks this frame's cookies drops it): log in again, or open the app in a window of its own.",
      );
    }
    const login = await handoffs.take(code, binding);
    try {
      await startSession(req, login.user, login.tokens, login.userAgent);
    } catch (err) {
      // The code is spent and no session holds its token: revoke it rather than leave it live.
      await genesys.revokeMe(login.tokens.accessToken, callerOf(req)).catch(() => undefined);
      throw err;
    }
    metrics.sessionsStarted.inc();
    res.status(204).end();
  });

  router.get(POPUP_SCRIPT_PATH, (_req, res) => {
    res.type('text/javascript').send(POPUP_SCRIPT);
  });

  router.all(['/auth/popup', '/auth/handoff'], (_req, _res, next) =>
    next(new MethodNotAllowedError(['POST'])),
  );
  router.all(POPUP_SCRIPT_PATH, (_req, _res, next) =>
    next(new MethodNotAllowedError(['GET', 'HEAD'])),
  );
  return router;
}
