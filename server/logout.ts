import type { Request, Response } from 'express';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { GenesysClient } from './genesys-client';
import type { SessionGuard } from './session-guard';

/** Ends a session for DELETE /session and POST /auth/logout. */
export type Logout = (req: Request, res: Response) => Promise<void>;

/**
 * Ends the local session first, then revokes the token upstream: the session is gone whatever
 * Genesys answers, even when it is down or slow (SPEC: DELETE /session always 204).
 */
export function createLogout(deps: {
  guard: SessionGuard;
  genesys: GenesysClient;
  metrics: Metrics;
  logger: Logger;
}): Logout {
  const { guard, genesys, metrics, logger } = deps;
  return async (req, res) => {
    const tokens = guard.tokensOf(req);
    await guard.end(req, res, 'logout');
    if (!tokens) return;
    let outcome = 'ok';
    try {
      const status = await genesys.revokeMe(tokens.accessToken, req.id);
      if (status < 200 || status >= 300) outcome = `status_${status}`;
    } catch (err) {
      outcome = 'unreachable';
      logger.warn(
        { requestId: req.id, err: (err as Error).message },
        'logout: revoke upstream failed',
      );
    }
    metrics.revocations.inc({ kind: 'self', outcome });
  };
}
