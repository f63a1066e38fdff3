import { createHash, createHmac } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { SessionData } from '../stores/session-data';
import type { SessionEvents } from './events';
import type { Config } from '../../config/types';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import type { TokenVault } from './token-vault';
import type { SessionStore } from '../stores/contract';
import type { GenesysClient, TokenSet } from '../genesys/client';
import { UnauthenticatedError } from '../core/errors';
import { destroySession, forgetSession } from './session-ops';
import {
  REFRESH_MARGIN_MS,
  SessionGoneError,
  createTokenRefresher,
  RefreshRefusedError,
  keepTokens,
} from './token-refresh';
import { requestIdOf } from '../core/request-id';
import { sessionCookieOptions } from './cookies';
import { traceIdOf } from '../core/trace-context';

/** How many opened token sets the guard keeps (oldest out first). */
const OPENED_KEPT = 1024;

/** Why a session ended, for the metric and the log. */
export type EndReason =
  'logout' | 'upstream_401' | 'expired' | 'revoked' | 'refresh_failed' | 'unreadable';

/** What a handler behind the guard gets: the session's user and its live token set. */
export interface LiveSession {
  readonly user: { readonly id: string; readonly name: string };
  readonly tokens: TokenSet;
}

/** When a session ends: each deadline that applies (ms epoch) and the earliest. */
export interface Deadlines {
  readonly idle: number;
  readonly absolute: number;
  /** The token's expiry, when no refresh token can extend it. */
  readonly token: number | undefined;
  readonly earliest: number;
  readonly kind: 'idle' | 'absolute' | 'token';
}

/** A route handler that runs only with a live session. */
export type SessionHandler = (req: Request, res: Response, session: LiveSession) => Promise<void>;

/** Session lifetimes, token refresh and ending sessions (docs/contract.md#lifetimes). */
export interface SessionGuard {
  /**
   * A handler that runs `handler` only with a live session (else 401), with its token set
   * refreshed when due. Rolls the idle expiry, unless `keepsIdle(req)` says the request must
   * not count as activity (preserveIdleTTL=true). Whatever it throws goes to `next`.
   */
  authenticated(
    handler: SessionHandler,
    options?: {
      keepsIdle?: (req: Request) => boolean;
      /** false: do not refresh a due token here (event streams never call Genesys). */
      refresh?: boolean;
    },
  ): RequestHandler;
  /** The session's handle: stable, opaque, and not the session id (nor can it be turned into it). */
  handleOf(sid: string): string;
  /** When a live session ends, and which deadline that is. */
  deadlinesOf(session: SessionData, tokens: TokenSet): Deadlines;
  /** The deadlines of a session read from the store now, or undefined when it is gone. */
  storedDeadlines(sid: string): Promise<Deadlines | undefined>;
  /** Keeps the token's idle deadline Genesys reported (`dateTokenIdles`), coarsely. */
  noteTokenIdles(req: Request, idlesAt: number): void;
  /** Stores a fresh token set for the user (login); the caller has regenerated the session id. */
  establish(
    req: Request,
    user: { id: string; name: string },
    tokens: TokenSet,
    userAgent?: string,
  ): void;
  /** Destroys the server-side record and clears the cookie. Safe without a session. */
  end(req: Request, res: Response, reason: EndReason): Promise<void>;
  /**
   * Ends every session of `userId`, on every replica (they share the store); when the request's
   * own session is one of them, its cookie goes too. Resolves with how many ended.
   */
  endUser(req: Request, res: Response, userId: string, reason: EndReason): Promise<number>;
  /** The token set of the session, or undefined when it has none or it cannot be opened. */
  tokensOf(req: Request): TokenSet | undefined;
  /** The token set held by a stored session (another of the user's), or undefined. */
  tokensIn(session: SessionData): TokenSet | undefined;
}

/** Builds the guard; `store` is the session store, whose locks serialise refreshes across replicas. */
export function createSessionGuard(deps: {
  config: Config;
  vault: TokenVault;
  genesys: GenesysClient;
  metrics: Metrics;
  logger: Logger;
  clock: () => number;
  store: SessionStore;
  events: SessionEvents;
}): SessionGuard {
  const { config, vault, genesys, metrics, logger, clock, store, events } = deps;
  // An HMAC of the id: stable for the session, the same on every replica, and one-way.
  const handleKey = createHash('sha256').update(`handle:${config.session.secrets[0]}`).digest();
  const handleOf = (sid: string): string =>
    createHmac('sha256', handleKey).update(sid).digest('base64url').slice(0, 22);
  const refresher = createTokenRefresher({ config, vault, genesys, metrics, store, clock });
  const cookieOptions = sessionCookieOptions(config);

  // Opening a sealed token set (AES-GCM, then JSON) was the guard's largest cost per request.
  // The last OPENED_KEPT opened ones are kept, keyed by the exact sealed text: a changed byte is
  // another key, so a tampered value is never served from here. Bounded, so memory stays flat
  // however many sessions there are; a process that holds these also holds the keys.
  const opened = new Map<string, TokenSet>();

  function tokensOf(req: Request): TokenSet | undefined {
    const sealed = req.session?.tokens;
    if (sealed === undefined) return undefined;
    return openSealed(sealed, req);
  }

  function openSealed(sealed: string, req?: Request): TokenSet | undefined {
    const known = opened.get(sealed);
    if (known !== undefined) return known;
    try {
      const tokens = Object.freeze(JSON.parse(vault.open(sealed)) as TokenSet);
      if (opened.size >= OPENED_KEPT) opened.delete(opened.keys().next().value as string);
      opened.set(sealed, tokens);
      return tokens;
    } catch (err) {
      // A key removed from the rotation list, or a tampered row: the session cannot be used.
      const ids = req && { requestId: requestIdOf(req), traceId: traceIdOf(req) };
      logger.warn({ ...ids, err: (err as Error).message }, 'session tokens unreadable');
      return undefined;
    }
  }

  const idleMs = config.session.idleTimeoutSeconds * 1000;
  // The contract allows a coarse roll (docs/contract.md#lifetimes): the idle expiry moves only
  // once that gains a tenth of the idle timeout, so most requests neither write the store nor
  // sign a new cookie. A session then ends between 0.9 and 1 idle timeout after its last request.
  const rollStepMs = idleMs / 10;

  /**
   * Sets where the session ends after this request: idle (rolling, coarse), absolute, and never
   * past the token's expiry when it cannot be refreshed; the cookie and the store row die
   * together at the earliest. A roll marks the session modified (`lastSeenAt`), which is what
   * makes express-session save it and send a new cookie; with `keepIdle` it never rolls.
   */
  function settleExpiry(req: Request, tokens: TokenSet, keepIdle: boolean): void {
    const session = req.session;
    const now = clock();
    const absoluteEnd = (session.createdAt ?? now) + config.session.absoluteTimeoutSeconds * 1000;
    const hardEnd =
      tokens.refreshToken === undefined ? Math.min(absoluteEnd, tokens.expiresAt) : absoluteEnd;
    const rolled = Math.min(now + idleMs, hardEnd);
    const current = session.cookie.expires?.getTime() ?? rolled;
    let end = Math.min(current, hardEnd);
    if (!keepIdle && rolled - current >= rollStepMs) {
      session.lastSeenAt = now;
      end = rolled;
    }
    // express-session resets the expiry to now + maxAge as the response ends (and saves it when
    // the session changed): pinning maxAge keeps it where `end` says.
    session.cookie.maxAge = Math.max(end - now, 1000);
  }

  /** Ends the session; `removedAlready` when the caller removed its record (a refused refresh). */
  /** The deadlines that apply to a session (docs/contract.md#lifetimes). */
  function deadlinesOf(session: SessionData, tokens: TokenSet): Deadlines {
    const createdAt = session.createdAt ?? clock();
    const idle = (session.lastSeenAt ?? createdAt) + idleMs;
    const absolute = createdAt + config.session.absoluteTimeoutSeconds * 1000;
    const token = tokens.refreshToken === undefined ? tokens.expiresAt : undefined;
    let earliest = idle;
    let kind: Deadlines['kind'] = 'idle';
    if (absolute < earliest) [earliest, kind] = [absolute, 'absolute'];
    if (token !== undefined && token < earliest) [earliest, kind] = [token, 'token'];
    return { idle, absolute, token, earliest, kind };
  }

  async function end(
    req: Request,
    res: Response,
    reason: EndReason,
    removedAlready = false,
  ): Promise<void> {
    res.clearCookie(config.session.cookieName, cookieOptions);
    if (!req.session?.user) return;
    const userId = req.session.user.id;
    const sid = req.sessionID;
    const removed = (await store.destroySession(sid)) || removedAlready;
    // Gone from the request too, as express-session's destroy() would do; without the id it also
    // skips the second store delete it makes as the response ends (unset: 'destroy').
    forgetSession(req);
    // Every request in flight when a session ends sees it end (each hears its own upstream 401):
    // only the one that removed the record counts and logs it.
    if (!removed) return;
    events.ended({ handle: handleOf(sid), reason });
    metrics.sessionsEnded.inc({ reason });
    logger.info(
      { requestId: requestIdOf(req), traceId: traceIdOf(req), userId, reason },
      'session ended',
    );
  }

  /** The live session of the request, refreshed when due; throws 401 (and ends it) otherwise. */
  async function liveSession(
    req: Request,
    res: Response,
    keepsIdle: (req: Request) => boolean,
    refresh: boolean,
  ): Promise<LiveSession> {
    const session = req.session;
    if (!session?.user) throw new UnauthenticatedError();
    let tokens = tokensOf(req);
    if (!tokens) {
      // Its key left the rotation list, or the row was tampered with: the session is dead.
      await end(req, res, 'unreadable');
      throw new UnauthenticatedError();
    }
    const now = clock();
    if (now >= (session.createdAt ?? now) + config.session.absoluteTimeoutSeconds * 1000) {
      await end(req, res, 'expired');
      throw new UnauthenticatedError('The session reached its absolute lifetime: log in again.');
    }
    if (
      now >= tokens.expiresAt - REFRESH_MARGIN_MS &&
      (refresh || tokens.refreshToken === undefined)
    ) {
      if (tokens.refreshToken === undefined) {
        if (now >= tokens.expiresAt) {
          await end(req, res, 'expired');
          throw new UnauthenticatedError('The Genesys token expired: log in again.');
        }
      } else {
        try {
          tokens = await refresher.refresh(req, {
            ...tokens,
            refreshToken: tokens.refreshToken,
          });
        } catch (err) {
          if (err instanceof SessionGoneError) {
            // Ended (and counted) by whoever ended it; here only the cookie and local copy go.
            res.clearCookie(config.session.cookieName, cookieOptions);
            await destroySession(req);
            throw new UnauthenticatedError();
          }
          // A refused refresh token (revoked, password changed) ends the session; an outage does not.
          if (!(err instanceof RefreshRefusedError)) throw err;
          await end(req, res, 'refresh_failed', err.removed);
          throw new UnauthenticatedError('The Genesys session could not be renewed: log in again.');
        }
      }
    }
    settleExpiry(req, tokens, keepsIdle(req));
    return { user: session.user, tokens };
  }

  const countsAsActivity = (): boolean => false;

  return {
    authenticated(handler, options = {}) {
      const keepsIdle = options.keepsIdle ?? countsAsActivity;
      const refresh = options.refresh ?? true;
      return (req, res, next) => {
        liveSession(req, res, keepsIdle, refresh)
          .then((session) => handler(req, res, session))
          .catch(next);
      };
    },
    tokensOf,
    end,
    async endUser(req, res, userId, reason) {
      const ended = await store.destroyUser(userId);
      // Counted here, all of them: the request's own record went with the others.
      if (ended > 0) metrics.sessionsEnded.inc({ reason }, ended);
      events.ended({ userId, reason });
      if (req.session?.user?.id.toLowerCase() === userId.toLowerCase()) {
        res.clearCookie(config.session.cookieName, cookieOptions);
        forgetSession(req);
      }
      return ended;
    },
    handleOf,
    deadlinesOf,
    tokensIn: (session) => (session.tokens === undefined ? undefined : openSealed(session.tokens)),
    async storedDeadlines(sid) {
      const session = await store.getSession(sid);
      const tokens = session?.user && session.tokens ? openSealed(session.tokens) : undefined;
      return session && tokens ? deadlinesOf(session, tokens) : undefined;
    },
    noteTokenIdles(req, idlesAt) {
      const known = req.session.tokenIdlesAt;
      // Genesys moves it on every call that is not preserveIdleTTL: kept when it moves by the
      // idle roll's step or more, so it does not cost a store write per request.
      if (known === undefined || Math.abs(idlesAt - known) >= rollStepMs) {
        req.session.tokenIdlesAt = idlesAt;
      }
    },
    establish(req, user, tokens, userAgent) {
      req.session.user = { id: user.id, name: user.name };
      req.session.createdAt = clock();
      req.session.lastSeenAt = req.session.createdAt;
      if (userAgent !== undefined) req.session.userAgent = userAgent;
      keepTokens(req, tokens, vault.seal(JSON.stringify(tokens)));
      settleExpiry(req, tokens, false);
    },
  };
}
