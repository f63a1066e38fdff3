import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import session from 'express-session';
import type { Config } from '../../config/types';
import type { Logger } from '../core/logger';
import { createMetrics, type Metrics } from '../core/metrics';
import { StoreUnavailableError } from '../stores/errors';
import type { SessionStore } from '../stores/contract';
import { expressSessionStore } from '../stores/express-adapter';
import { createTokenVault } from '../session/token-vault';
import { createGenesysClient, type GenesysClient } from '../genesys/client';
import { createGenesysHttp } from '../genesys/http';
import { createSessionGuard } from '../session/guard';
import { loginStates, loginTransactions } from '../session/login-transaction';
import { createLogout } from '../session/logout';
import { createMySessions } from '../session/my-sessions';
import { createSessionEvents } from '../session/events';
import { EVENTS_TICK_MS, addEventRoutes } from '../routes/events';
import { createUpstreamProxy } from '../genesys/proxy';
import { requestId } from './request-id';
import { traceContext } from './trace-context';
import { securityHeaders } from './security-headers';
import { addOpsRoutes } from '../routes/ops';
import { Lifecycle } from '../core/lifecycle';
import { accessLog } from './access-log';
import { requireAntiForgery } from './anti-forgery';
import { discardBody } from '../routes/body';
import { authRouter } from '../routes/auth';
import { popupLoginRouter } from '../routes/popup-login';
import { createStartSession } from '../session/start-session';
import { frameBindings } from '../session/frame-binding';
import { createHandoffs } from '../session/handoff';
import { addSessionRoutes } from '../routes/session';
import { adminRouter } from '../routes/admin';
import { createAdminAudit } from '../routes/admin-audit';
import { createForward } from '../routes/forward';
import { errorHandler } from './problem';
import { CLIENT_MODULE_PATH, clientModule } from './client-module';
import { NotFoundError } from '../core/errors';
import { randomToken } from '../session/pkce';
import { loopbackCountsAsSecure, sessionCookieOptions } from '../session/cookies';
import type { InflightTracker } from './inflight';

/** Everything the app takes from outside: no module-level state, so tests build as many as they like. */
export interface AppDeps {
  readonly logger: Logger;
  readonly store: SessionStore;
  readonly metrics?: Metrics;
  readonly lifecycle?: Lifecycle;
  /** ms epoch; injected so tests can move time. */
  readonly clock?: () => number;
  /** Counts requests in progress, so shutdown can wait for them; none tracked when absent. */
  readonly inflight?: InflightTracker;
  /** Calls to Genesys made by the gateway itself (login, logout); defaults to the real client. */
  readonly genesys?: GenesysClient;
}

const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/** Builds the gateway's Express app. Never listens and has no side effects beyond the returned app. */
export function createApp(config: Config, deps: AppDeps): express.Express {
  const { logger, store } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const lifecycle = deps.lifecycle ?? new Lifecycle();
  const clock = deps.clock ?? Date.now;
  const vault = createTokenVault(config.tokenEncryptionKeys);
  // The one HTTP client to Genesys: its pools carry the gateway's own calls and the proxy's.
  const pools = createGenesysHttp({
    loginBaseUrl: config.genesys.loginBaseUrl,
    apiBaseUrl: config.genesys.apiBaseUrl,
    timeoutMs: config.upstreamTimeoutMs,
  });
  const genesys = deps.genesys ?? createGenesysClient(config, pools, metrics, clock);
  const events = createSessionEvents(store.broadcast, logger);
  const guard = createSessionGuard({
    config,
    vault,
    genesys,
    metrics,
    logger,
    clock,
    store,
    events,
  });
  const { logout, endReplaced } = createLogout({ guard, genesys, events, metrics, logger });
  const mySessions = createMySessions({ guard, logout, store, events, genesys, metrics, logger });
  const transactions = loginTransactions({ vault, secure: config.secureCookies, clock });
  const startSession = createStartSession({
    guard,
    endReplaced,
    cookieName: config.session.cookieName,
  });
  // Embedded (EMBED_ORIGINS), a frame logs in through a popup (docs/embedded.md#popup-login).
  const popups = config.session.partitioned
    ? {
        bindings: frameBindings({ vault, clock }),
        handoffs: createHandoffs({ store, vault, clock }),
      }
    : undefined;
  const states = loginStates(store);
  const proxy = createUpstreamProxy({
    apiBaseUrl: config.genesys.apiBaseUrl,
    pool: pools.api,
    timeoutMs: config.upstreamTimeoutMs,
    metrics,
  });
  const forward = createForward({ proxy, guard });
  const audit = createAdminAudit(logger);
  const loadSession = session({
    name: config.session.cookieName,
    secret: [...config.session.secrets],
    store: expressSessionStore(store),
    // 256 bits from the CSPRNG (docs/contract.md#cookies: at least 128).
    genid: () => randomToken(32),
    resave: false,
    saveUninitialized: false,
    // Idle timeout: the session guard rolls the expiry (coarsely, and not for preserveIdleTTL);
    // a rolled session is a changed one, which express-session saves and sends a cookie for.
    rolling: false,
    unset: 'destroy',
    cookie: { ...sessionCookieOptions(config), maxAge: config.session.idleTimeoutSeconds * 1000 },
  });
  // With unset: 'destroy', express-session deletes from the store, as the response ends, every
  // session it holds no req.session for: also one it could not load because the store failed.
  // After a store hiccup that would log the user out (and with a wedged store cost a second
  // timeout before the 503): a failed load forgets the session id instead.
  const markSecure = loopbackCountsAsSecure(config);
  const sessions: RequestHandler = (req, res, next) => {
    markSecure?.(req);
    loadSession(req, res, (err?: unknown) => {
      if (err !== undefined) (req as { sessionID?: string }).sessionID = undefined;
      next(err);
    });
  };
  const countStoreErrors: ErrorRequestHandler = (err, _req, _res, next) => {
    if (err instanceof StoreUnavailableError) metrics.storeErrors.inc();
    next(err);
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  // `/Session` or `/session/` are other routes, not aliases of `/session`.
  app.set('strict routing', true);
  app.set('case sensitive routing', true);

  if (deps.inflight) app.use(deps.inflight.track);
  app.use(requestId());
  app.use(traceContext());
  const directives: Record<string, string[]> = {
    // Only the app frames itself, unless EMBED_ORIGINS names who else may (Genesys Cloud).
    frameAncestors: ["'self'", ...(config.embedOrigins ?? [])],
  };
  // With IDP_LOGOUT the logout form's 303 goes on to the Genesys logout page, and browsers hold
  // a form's redirects to form-action too.
  if (config.idpLogout) {
    directives.formAction = ["'self'", new URL(config.genesys.loginBaseUrl).origin];
  }
  app.use(
    securityHeaders({
      // Not helmet's `no-referrer`: with it browsers send `Origin: null` on a form post from our
      // own pages, and the logout form is refused. `same-origin` keeps the Origin (and the
      // referrer) on the app's own requests and sends other sites nothing.
      referrerPolicy: { policy: 'same-origin' },
      contentSecurityPolicy: { directives },
      // X-Frame-Options knows no list of origins: with EMBED_ORIGINS, frame-ancestors decides.
      ...(config.embedOrigins ? { xFrameOptions: false } : {}),
    }),
  );
  // Ops first: probes must answer when the store is down, create no session and log no line.
  addOpsRoutes(app, {
    pingStore: () => store.ping(),
    metrics,
    lifecycle,
    serveMetrics: config.metricsPort === undefined,
  });
  app.use(accessLog(logger, metrics));

  const antiForgery = requireAntiForgery(config.publicOrigin);
  // The session routes first: the frontend's calls are most of the traffic. Their guards run on
  // the routes themselves, in this order: no-store, anti-forgery (before the session is read: a
  // forged request costs no store round trip), the session, the body dropped. That spares each
  // call a walk through the app-level mounts below, which the rarer routes use.
  addSessionRoutes(app, {
    guard,
    forward,
    logout,
    mySessions,
    before: [noStore, antiForgery, sessions, discardBody()],
  });
  addEventRoutes(app, {
    guard,
    events,
    lifecycle,
    logger,
    metrics,
    release: (res) => deps.inflight?.release(res),
    clock,
    warningMs: config.session.warningSeconds * 1000,
    maxStreams: config.session.maxEventStreams,
    tickMs: EVENTS_TICK_MS,
    before: [
      noStore,
      requireAntiForgery(config.publicOrigin, { headerOptional: true }),
      sessions,
      discardBody(),
    ],
  });

  app.use('/auth', noStore);
  // With ADMIN_ENABLED=false nothing answers under /admin: it is an unknown route (404).
  if (config.adminEnabled) {
    app.use('/admin', noStore, audit.start, antiForgery, sessions, audit.noteActor);
  }
  // The logout form: Origin stands in for X-CSRF, checked before the session is read, so a
  // refused post does not even roll the session's idle expiry, which another app on the same
  // site could otherwise keep alive.
  app.post('/auth/logout', requireAntiForgery(config.publicOrigin, { originStandsIn: true }));
  // The session middleware only where a session is used: /auth/login and static files need none.
  app.use(['/auth/callback', '/auth/logout'], sessions);
  if (popups) {
    app.post(['/auth/popup', '/auth/handoff'], antiForgery);
    app.use('/auth/handoff', sessions);
    app.use(popupLoginRouter({ config, ...popups, startSession, genesys, metrics }));
  }
  app.use(
    authRouter({ config, genesys, transactions, states, metrics, logout, startSession, popups }),
  );
  if (config.adminEnabled) {
    app.use(adminRouter({ guard, forward, metrics, logger }));
  }

  app.get(CLIENT_MODULE_PATH, clientModule());
  if (config.staticDir !== undefined) {
    app.use(express.static(config.staticDir, { index: 'index.html', dotfiles: 'ignore' }));
  }
  app.use((_req, _res, next) => next(new NotFoundError()));
  app.use(countStoreErrors);
  app.use(errorHandler(logger));
  return app;
}
