import type { Request, Response } from 'express';
import { UnauthenticatedError } from '../core/errors';
import type { LiveSession, SessionGuard } from '../session/guard';
import {
  checkUpstreamAnswer,
  sendUpstreamAnswer,
  type UpstreamAnswer,
  type UpstreamCall,
  type UpstreamProxy,
} from '../genesys/proxy';

/** How a route wants an exchange answered. */
export interface ForwardOptions {
  /** Drop the upstream body (HEAD answered from a GET). */
  readonly dropBody?: boolean;
  /** Runs after a 2xx, before the answer is sent (e.g. end the local sessions of a revoked user). */
  readonly onSuccess?: (answer: UpstreamAnswer) => Promise<void> | void;
}

/** Sends one call to the Genesys API with the session's token and answers the browser with it. */
export type Forward = (
  req: Request,
  res: Response,
  session: LiveSession,
  call: Omit<UpstreamCall, 'accessToken'>,
  options?: ForwardOptions,
) => Promise<void>;

/**
 * The mapped routes' one way to Genesys and back. An upstream 401 ends the local session and the
 * browser hears 401, so it knows to log in again (docs/contract.md#upstream-401); failures are
 * thrown to the one error handler.
 */
export function createForward(deps: { proxy: UpstreamProxy; guard: SessionGuard }): Forward {
  const { proxy, guard } = deps;
  return async (req, res, session, call, options = {}) => {
    const answer = await proxy.exchange(req, res, {
      ...call,
      accessToken: session.tokens.accessToken,
    });
    if (answer.status === 401) {
      await guard.end(req, res, 'upstream_401');
      throw new UnauthenticatedError('Genesys no longer accepts this session: log in again.');
    }
    checkUpstreamAnswer(answer, options.dropBody);
    if (answer.status >= 200 && answer.status < 300 && options.onSuccess) {
      await options.onSuccess(answer);
    }
    sendUpstreamAnswer(res, answer, options.dropBody);
  };
}
