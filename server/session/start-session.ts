import type { Request } from 'express';
import type { TokenSet } from '../genesys/client';
import type { SessionGuard } from './guard';
import type { EndReplaced } from './logout';
import { hasCookie } from './login-transaction';
import { regenerateSession, saveSession } from './session-ops';

/** Starts the request's session for a user who just logged in (the callback, a popup's handoff). */
export type StartSession = (
  req: Request,
  user: { id: string; name: string },
  tokens: TokenSet,
  userAgent: string | undefined,
) => Promise<void>;

/**
 * A new session id at every login: one planted before it is worth nothing after it. Logging in
 * again over a live session replaces that session, and once its record is gone, so is its token
 * (docs/contract.md#logging-in-again).
 */
export function createStartSession(deps: {
  guard: SessionGuard;
  endReplaced: EndReplaced;
  cookieName: string;
}): StartSession {
  const { guard, endReplaced, cookieName } = deps;
  return async (req, user, tokens, userAgent) => {
    const previousUser = req.session?.user;
    const previousTokens = previousUser ? guard.tokensOf(req) : undefined;
    const previous =
      previousUser && previousTokens && previousTokens.accessToken !== tokens.accessToken
        ? { sid: req.sessionID, userId: previousUser.id, tokens: previousTokens }
        : undefined;
    let replaced = false;
    try {
      // Without a session cookie the id is new already (express-session made it for this
      // request); regenerating it would only cost a store delete and, as express-session then
      // loses track of the explicit save, a second store write when the response ends.
      if (hasCookie(req, cookieName)) {
        await regenerateSession(req);
        replaced = true;
      }
      guard.establish(req, user, tokens, userAgent);
      await saveSession(req);
    } finally {
      if (replaced && previous) await endReplaced(req, previous);
    }
  };
}
