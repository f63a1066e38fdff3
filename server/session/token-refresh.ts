import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { Request } from 'express';
import type { Config } from '../../config/types';
import type { Metrics } from '../core/metrics';
import type { TokenVault } from './token-vault';
import type { SessionStore } from '../stores/contract';
import type { GenesysClient, TokenSet } from '../genesys/client';
import { OAuthError } from '../genesys/client';
import { ServiceUnavailableError } from '../core/errors';
import { saveSession } from './session-ops';
import { callerOf } from '../genesys/correlation';

/** Refresh this long before expiry, so a token never expires between our check and Genesys's. */
export const REFRESH_MARGIN_MS = 60_000;

/** How often a request waiting for another replica's refresh looks at the store. */
const REFRESH_POLL_MS = 50;

/** A refreshed token set and its sealed form, as the store holds it. */
interface Refreshed {
  readonly tokens: TokenSet;
  readonly sealed: string;
}

/** The session was ended elsewhere (logout, admin revoke) while this request was refreshing it. */
export class SessionGoneError extends Error {
  override readonly name = 'SessionGoneError';
}

/** Genesys refused the refresh token (revoked, password changed): the session is over. */
function isRefused(err: unknown): boolean {
  return err instanceof OAuthError && err.status < 500;
}

/**
 * A refused refresh: the session is over. The refresher removed its record while it held the
 * lock; `removed` says whether that removal is the one that ended it, so it is counted once.
 */
export class RefreshRefusedError extends Error {
  override readonly name = 'RefreshRefusedError';
  constructor(
    readonly removed: boolean,
    cause: unknown,
  ) {
    super('Genesys refused the refresh token', { cause });
  }
}

/** Puts a sealed token set into the request's session (saved with it). */
export function keepTokens(req: Request, tokens: TokenSet, sealed: string): void {
  req.session.tokens = sealed;
  req.session.tokenExpiresAt = tokens.expiresAt;
}

/** Refreshes a session's access token: once at a time per session, in this process and across replicas. */
export interface TokenRefresher {
  /** The fresh token set of the session, refreshed here or by whoever held the lock; kept in req.session. */
  refresh(req: Request, tokens: TokenSet & { refreshToken: string }): Promise<TokenSet>;
}

/** Builds the refresher; `store` provides the locks that serialise refreshes across replicas. */
export function createTokenRefresher(deps: {
  config: Config;
  vault: TokenVault;
  genesys: GenesysClient;
  metrics: Metrics;
  store: SessionStore;
  clock: () => number;
}): TokenRefresher {
  const { config, vault, genesys, metrics, store, clock } = deps;
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
    keepTokens(req, result.tokens, result.sealed);
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
      fresh = await genesys.refresh(tokens.refreshToken, callerOf(req));
      metrics.refreshes.inc({ outcome: 'ok' });
    } catch (err) {
      metrics.refreshes.inc({ outcome: 'failed' });
      // Ended while we hold the lock, so no waiter tries the refused refresh token again. A store
      // failure here is not the answer: the caller ends the session again and reports that.
      if (isRefused(err)) {
        throw new RefreshRefusedError(await store.destroySession(sid).catch(() => false), err);
      }
      throw err;
    }
    // A logout or admin revoke on another replica during the Genesys call must not be undone by
    // saving the session back (a narrow window between this read and the save remains).
    if (!(await store.getSession(sid))) throw new SessionGoneError();
    const sealed = vault.seal(JSON.stringify(fresh));
    keepTokens(req, fresh, sealed);
    // Saved now, not when the response ends: other replicas wait on the store for these tokens,
    // and the rotated refresh token they hold is already dead.
    await saveSession(req);
    return { tokens: fresh, sealed };
  }

  return { refresh };
}
