import type { Request, Response } from 'express';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import type { GenesysClient, TokenSet } from '../genesys/client';
import type { SessionGuard } from './guard';
import { requestIdOf } from '../core/request-id';
import { traceIdOf } from '../core/trace-context';
import { callerOf } from '../genesys/correlation';
import type { SessionEvents } from './events';

/** Ends a session for DELETE /session and POST /auth/logout. */
export type Logout = (req: Request, res: Response) => Promise<void>;

/**
 * Ends a session that a new login replaced (docs/contract.md#logging-in-again): its record went
 * with the session id at regenerate, and its token must not stay live at Genesys.
 */
export type EndReplaced = (
  req: Request,
  previous: { sid: string; userId: string; tokens: TokenSet },
) => Promise<void>;

/** Which session a revoke is for, for the metric: a logout, a replaced login, or "my sessions". */
export type RevokeKind = 'self' | 'replaced' | 'own_session';

/**
 * Revokes a token at Genesys after its session ended locally; never throws (the session is gone
 * whatever Genesys answers), counts the outcome, bounded by REVOKE_TIMEOUT_MS.
 */
export function createRevoke(deps: {
  genesys: GenesysClient;
  metrics: Metrics;
  logger: Logger;
}): (req: Request, tokens: TokenSet, kind: RevokeKind) => Promise<void> {
  const { genesys, metrics, logger } = deps;
  return async (req, tokens, kind) => {
    let outcome = 'ok';
    try {
      const status = await genesys.revokeMe(tokens.accessToken, callerOf(req));
      if (status < 200 || status >= 300) outcome = `status_${status}`;
    } catch (err) {
      outcome = 'unreachable';
      logger.warn(
        { requestId: requestIdOf(req), traceId: traceIdOf(req), err: (err as Error).message },
        `${kind}: revoke upstream failed`,
      );
    }
    metrics.revocations.inc({ kind, outcome });
  };
}

/**
 * Ends the local session first, then revokes the token upstream: the session is gone whatever
 * Genesys answers, even when it is down or slow (docs/contract.md#logout: DELETE /session is 204).
 */
export function createLogout(deps: {
  guard: SessionGuard;
  genesys: GenesysClient;
  events: SessionEvents;
  metrics: Metrics;
  logger: Logger;
}): { logout: Logout; endReplaced: EndReplaced } {
  const { guard, events, metrics, logger } = deps;
  const revoke = createRevoke(deps);

  const logout: Logout = async (req, res) => {
    const tokens = guard.tokensOf(req);
    try {
      await guard.end(req, res, 'logout');
    } finally {
      // Also when the store could not drop the record (the client then hears 503 and has lost
      // its cookie): the token is revoked all the same, so the leftover record holds a dead token.
      if (tokens) await revoke(req, tokens, 'self');
    }
  };

  return {
    logout,

    async endReplaced(req, { sid, userId, tokens }) {
      metrics.sessionsEnded.inc({ reason: 'replaced' });
      logger.info(
        { requestId: requestIdOf(req), traceId: traceIdOf(req), userId, reason: 'replaced' },
        'session ended',
      );
      events.ended({ handle: guard.handleOf(sid), reason: 'replaced' });
      await revoke(req, tokens, 'replaced');
    },
  };
}
