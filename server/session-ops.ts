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
