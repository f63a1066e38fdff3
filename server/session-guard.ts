import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../config/types';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { TokenVault } from './token-vault';
import type { BffSessionStore } from './session-store';
import type { GenesysClient, TokenSet } from './genesys-client';
import { OAuthError } from './genesys-client';
import { ServiceUnavailableError, UnauthenticatedError } from './errors';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The session's live token set, opened from the vault by `requireSession`. */
      tokenSet?: TokenSet;
    }
  }
}

/** Refresh this long before expiry, so a token never expires between our check and Genesys's. */
const REFRESH_MARGIN_MS = 60_000;

/** How often a request waiting for another replica's refresh looks at the store. */
const REFRESH_POLL_MS = 50;

/** A refreshed token set and its sealed form, as the store holds it. */
interface Refreshed {
  readonly tokens: TokenSet;
  readonly sealed: string;
}

/** The session was ended elsewhere (logout, admin revoke) while this request was refreshing it. */
class SessionGoneError extends Error {
  override readonly name = 'SessionGoneError';
}

/** Why a session ended, for the metric and the log. */
export type EndReason =
  'logout' | 'upstream_401' | 'expired' | 'revoked' | 'refresh_failed' | 'unreadable';

/** Session lifetimes, token refresh and ending sessions: the rules of SPEC "Lifetimes". */
export interface SessionGuard {
  /** 401 unless the request has a live session; leaves `req.tokenSet` ready to use. */
  readonly requireSession: RequestHandler;
  /** Stores a fresh token set for the user (login); the caller has regenerated the session id. */
  establish(req: Request, user: { id: string; name: string }, tokens: TokenSet): void;
  /** Destroys the server-side record and clears the cookie. Safe without a session. */
  end(req: Request, res: Response, reason: EndReason): Promise<void>;
  /** The token set of the session, or undefined when it has none or it cannot be opened. */
  tokensOf(req: Request): TokenSet | undefined;
}

/** Builds the guard; `store` is the session store, whose locks serialise refreshes across replicas. */
export function createSessionGuard(deps: {
  config: Config;
  vault: TokenVault;
  genesys: GenesysClient;
  metrics: Metrics;
  logger: Logger;
  clock: () => number;
  store: BffSessionStore;
}): SessionGuard {
  const { config, vault, genesys, metrics, logger, clock, store } = deps;
  // One refresh at a time per session within this process: keyed by the refresh token, which
  // Genesys rotates on use. Saves the store round trips of the cross-replica lock below.
  const refreshing = new Map<string, Promise<Refreshed>>();
  // A finished refresh stays answerable by its old refresh token for a while: requests of the
  // session loaded before the new tokens reached the store still hold the old (rotated, now dead)
  // refresh token, and must get the same new set, not a refused refresh that logs the user out.
  // Longer than the refreshing request can take to proxy its call and save its session.
  const refreshGraceMs = Math.max(REFRESH_MARGIN_MS, 3 * config.upstreamTimeoutMs);
  // Across replicas, one refresh at a time per session: a store lock. Its holder needs one
  // Genesys call and a few store round trips; it expires before waiters give up, so a replica
  // that died holding it delays the session's requests but cannot wedge it.
  const refreshLockTtlMs = 2 * config.upstreamTimeoutMs;
  const refreshWaitMs = 3 * config.upstreamTimeoutMs;
  const cookieOptions = {
    path: '/',
    httpOnly: true,
    secure: config.secureCookies,
    sameSite: config.session.cookieSameSite,
  } as const;

  function tokensOf(req: Request): TokenSet | undefined {
    const sealed = req.session?.tokens;
    if (sealed === undefined) return undefined;
    try {
      return JSON.parse(vault.open(sealed)) as TokenSet;
    } catch (err) {
      // A key removed from the rotation list, or a tampered row: the session cannot be used.
      logger.warn({ requestId: req.id, err: (err as Error).message }, 'session tokens unreadable');
      return undefined;
    }
  }

  function openQuietly(sealed: string | undefined): TokenSet | undefined {
    if (sealed === undefined) return undefined;
    try {
      return JSON.parse(vault.open(sealed)) as TokenSet;
    } catch {
      return undefined;
    }
  }

  function isDue(tokens: TokenSet): boolean {
    return clock() >= tokens.expiresAt - REFRESH_MARGIN_MS;
  }

  function keep(req: Request, tokens: TokenSet, sealed = vault.seal(JSON.stringify(tokens))): void {
    req.session.tokens = sealed;
    req.session.tokenExpiresAt = tokens.expiresAt;
  }

  /**
   * Idle (rolling, via express-session's maxAge), absolute, and never past the token's expiry when
   * it cannot be refreshed: the cookie and the store row die together at the earliest of the three.
   */
  function clampLifetime(req: Request, tokens: TokenSet): void {
    const now = clock();
    const absoluteEnd =
      (req.session.createdAt ?? now) + config.session.absoluteTimeoutSeconds * 1000;
    const end =
      tokens.refreshToken === undefined ? Math.min(absoluteEnd, tokens.expiresAt) : absoluteEnd;
    const left = end - now;
    if (left < config.session.idleTimeoutSeconds * 1000)
      req.session.cookie.maxAge = Math.max(left, 1000);
  }

  /** The fresh token set of the session, refreshed here or by whoever held the lock; kept in req.session. */
  async function refresh(
    req: Request,
    tokens: TokenSet & { refreshToken: string },
  ): Promise<TokenSet> {
    let pending = refreshing.get(tokens.refreshToken);
    if (!pending) {
      pending = refreshOnce(req, tokens);
      const key = tokens.refreshToken;
      refreshing.set(key, pending);
      const forget = (): void => void refreshing.delete(key);
      pending.then(() => setTimeout(forget, refreshGraceMs).unref(), forget);
    }
    const result = await pending;
    keep(req, result.tokens, result.sealed);
    return result.tokens;
  }

  /**
   * One refresh of the session across replicas: the holder of the store lock refreshes and saves
   * before it lets go; everyone else waits for the store to carry the fresh set, and takes the
   * lock itself if the holder let go without one (its Genesys call failed).
   */
  async function refreshOnce(
    req: Request,
    tokens: TokenSet & { refreshToken: string },
  ): Promise<Refreshed> {
    const sid = req.sessionID;
    const loaded = req.session.tokens;
    const started = performance.now();
    for (;;) {
      const release = await store.lock(`refresh:${sid}`, refreshLockTtlMs);
      if (release) {
        try {
          return await refreshHoldingLock(req, tokens, loaded);
        } finally {
          await release();
        }
      }
      // Real time, not the injected clock: the wait is about how long this request hangs.
      if (performance.now() - started >= refreshWaitMs) {
        throw new ServiceUnavailableError(
          'The session is being renewed by another request that did not finish in time; try again shortly.',
        );
      }
      await sleep(REFRESH_POLL_MS);
      const done = await freshInStore(sid, loaded);
      if (done) return done;
    }
  }

  /** The session's token set in the store when another request has refreshed it already. */
  async function freshInStore(
    sid: string,
    loaded: string | undefined,
  ): Promise<Refreshed | undefined> {
    const current = await store.getSession(sid);
    if (!current) throw new SessionGoneError();
    if (current.tokens === undefined || current.tokens === loaded) return undefined;
    const theirs = openQuietly(current.tokens);
    return theirs && !isDue(theirs) ? { tokens: theirs, sealed: current.tokens } : undefined;
  }

  async function refreshHoldingLock(
    req: Request,
    tokens: TokenSet & { refreshToken: string },
    loaded: string | undefined,
  ): Promise<Refreshed> {
    const sid = req.sessionID;
    // Another replica may have refreshed between our load of the session and our lock.
    const done = await freshInStore(sid, loaded);
    if (done) return done;
    let fresh: TokenSet;
    try {
      fresh = await genesys.refresh(tokens.refreshToken, req.id);
      metrics.refreshes.inc({ outcome: 'ok' });
    } catch (err) {
      metrics.refreshes.inc({ outcome: 'failed' });
      // Ended while we hold the lock, so no waiter tries the refused refresh token again. A store
      // failure here is not the answer: the caller ends the session again and reports that.
      if (isRefused(err)) await store.destroySession(sid).catch(() => undefined);
      throw err;
    }
    // A logout or admin revoke on another replica during the Genesys call must not be undone by
    // saving the session back (a narrow window between this read and the save remains).
    if (!(await store.getSession(sid))) throw new SessionGoneError();
    const sealed = vault.seal(JSON.stringify(fresh));
    keep(req, fresh, sealed);
    // Saved now, not when the response ends: other replicas wait on the store for these tokens,
    // and the rotated refresh token they hold is already dead.
    await new Promise<void>((resolve, reject) =>
      req.session.save((err: unknown) => (err ? reject(err) : resolve())),
    );
    return { tokens: fresh, sealed };
  }

  /** Genesys refused the refresh token (revoked, password changed): the session is over. */
  function isRefused(err: unknown): boolean {
    return err instanceof OAuthError && err.status < 500;
  }

  async function end(req: Request, res: Response, reason: EndReason): Promise<void> {
    res.clearCookie(config.session.cookieName, cookieOptions);
    if (!req.session?.user) return;
    const userId = req.session.user.id;
    await new Promise<void>((resolve, reject) =>
      req.session.destroy((err: unknown) => (err ? reject(err) : resolve())),
    );
    metrics.sessionsEnded.inc({ reason });
    logger.info({ requestId: req.id, userId, reason }, 'session ended');
  }

  const requireSession: RequestHandler = async (req, res, next) => {
    try {
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
      if (now >= tokens.expiresAt - REFRESH_MARGIN_MS) {
        if (tokens.refreshToken === undefined) {
          if (now >= tokens.expiresAt) {
            await end(req, res, 'expired');
            throw new UnauthenticatedError('The Genesys token expired: log in again.');
          }
        } else {
          try {
            tokens = await refresh(req, { ...tokens, refreshToken: tokens.refreshToken });
          } catch (err) {
            if (err instanceof SessionGoneError) {
              // Ended (and counted) by whoever ended it; here only the cookie and local copy go.
              res.clearCookie(config.session.cookieName, cookieOptions);
              await new Promise<void>((resolve, reject) =>
                req.session.destroy((e: unknown) => (e ? reject(e) : resolve())),
              );
              throw new UnauthenticatedError();
            }
            // A refused refresh token (revoked, password changed) ends the session; an outage does not.
            if (!isRefused(err)) throw err;
            await end(req, res, 'refresh_failed');
            throw new UnauthenticatedError(
              'The Genesys session could not be renewed: log in again.',
            );
          }
        }
      }
      clampLifetime(req, tokens);
      req.tokenSet = tokens;
      next();
    } catch (err) {
      next(err);
    }
  };

  return {
    requireSession,
    tokensOf,
    end,
    establish(req, user, tokens) {
      req.session.user = { id: user.id, name: user.name };
      req.session.createdAt = clock();
      keep(req, tokens);
      clampLifetime(req, tokens);
    },
  };
}
