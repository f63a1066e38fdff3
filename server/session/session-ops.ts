import type { Request } from 'express';

type SessionMethod = 'regenerate' | 'save' | 'destroy';

function call(req: Request, method: SessionMethod): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session[method]((err: unknown) => (err ? reject(err) : resolve())),
  );
}

/** express-session's callback methods as promises, so store failures reach the error mapper. */
export const regenerateSession = (req: Request): Promise<void> => call(req, 'regenerate');
/** Writes the session to the store now, not when the response ends. */
export const saveSession = (req: Request): Promise<void> => call(req, 'save');
/** Removes the session from the store and from the request. */
export const destroySession = (req: Request): Promise<void> => call(req, 'destroy');

/**
 * Drops the session from the request once the store no longer has it: express-session then
 * neither saves it nor deletes it again as the response ends.
 */
export function forgetSession(req: Request): void {
  const loose = req as { session?: unknown; sessionID?: string };
  loose.session = undefined;
  loose.sessionID = undefined;
}
