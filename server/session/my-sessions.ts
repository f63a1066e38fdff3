import type { Request, Response } from 'express';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import { requestIdOf } from '../core/request-id';
import { traceIdOf } from '../core/trace-context';
import type { GenesysClient } from '../genesys/client';
import type { SessionRepository } from '../stores/contract';
import type { SessionEvents } from './events';
import type { SessionGuard } from './guard';
import { createRevoke, type Logout } from './logout';

/** One of the user's sessions as "my sessions" shows it: never its id. */
export interface MySession {
  readonly handle: string;
  readonly createdAt: string | null;
  readonly lastSeenAt: string | null;
  readonly userAgent: string;
  readonly current: boolean;
}

/** "My sessions": the logged-in user's sessions, listed and ended (docs/contract.md#routes). */
export interface MySessions {
  /** The user's live sessions, the most recently seen first. */
  list(req: Request, user: { id: string }): Promise<MySession[]>;
  /**
   * Ends the session with `handle`, or every other one; each token is revoked at Genesys and the
   * session's streams hear `ended` (`revoked`). Resolves with how many matched: 0 for an unknown
   * handle or another user's.
   */
  end(
    req: Request,
    res: Response,
    user: { id: string },
    which: { handle: string } | 'others',
  ): Promise<number>;
}

const iso = (ms: number | undefined): string | null =>
  ms === undefined ? null : new Date(ms).toISOString();

export function createMySessions(deps: {
  guard: SessionGuard;
  logout: Logout;
  store: Pick<SessionRepository, 'sessionsOfUser' | 'destroySession'>;
  events: SessionEvents;
  genesys: GenesysClient;
  metrics: Metrics;
  logger: Logger;
}): MySessions {
  const { guard, logout, store, events, metrics, logger } = deps;
  const revoke = createRevoke(deps);
  // A popup login waiting for its frame (session/handoff.ts) is no session yet: not listed, and
  // not ended with the others (it lapses within a minute; an admin revoke still reaches it).
  const sessionsOf = async (userId: string) =>
    Object.entries(await store.sessionsOfUser(userId)).filter(([, data]) => !data.handoff);

  return {
    async list(req, user) {
      const mine = await sessionsOf(user.id);
      return mine
        .map(([sid, data]) => ({
          handle: guard.handleOf(sid),
          createdAt: iso(data.createdAt),
          lastSeenAt: iso(data.lastSeenAt ?? data.createdAt),
          userAgent: data.userAgent ?? 'Unknown browser',
          current: sid === req.sessionID,
        }))
        .sort((a, b) => (b.lastSeenAt ?? '').localeCompare(a.lastSeenAt ?? ''));
    },

    async end(req, res, user, which) {
      const current = req.sessionID;
      const mine = await sessionsOf(user.id);
      const chosen = mine.filter(([sid]) =>
        which === 'others' ? sid !== current : guard.handleOf(sid) === which.handle,
      );
      for (const [sid, session] of chosen) {
        if (sid === current) {
          // Its own handle: the same as a logout, cookie and all.
          await logout(req, res);
          continue;
        }
        const tokens = guard.tokensIn(session);
        // Ended here first, then revoked: the session is gone whatever Genesys answers.
        if (await store.destroySession(sid)) {
          metrics.sessionsEnded.inc({ reason: 'revoked' });
          events.ended({ handle: guard.handleOf(sid), reason: 'revoked' });
          logger.info(
            {
              requestId: requestIdOf(req),
              traceId: traceIdOf(req),
              userId: user.id,
              reason: 'revoked',
            },
            'session ended',
          );
        }
        if (tokens) await revoke(req, tokens, 'own_session');
      }
      return chosen.length;
    },
  };
}
