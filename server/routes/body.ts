import express, { type Request, type RequestHandler, type Response } from 'express';
import getRawBody from 'raw-body';
import { AppError } from '../core/errors';

/** Largest JSON body the gateway reads: an IdleTokenTimeout with group bundles is well under it. */
export const JSON_BODY_LIMIT = '16kb';

// Not `strict`: `null` or `"x"` is valid JSON, and the route's validator answers it with
// "must be a JSON object" instead of body-parser's misleading "not valid JSON".
const parseJson = express.json({ limit: JSON_BODY_LIMIT, strict: false, type: 'application/json' });

/** Reads a JSON body: 415 unless the content type is JSON, 413 over the limit, 400 when malformed. */
export function readJsonBody(req: Request, res: Response): Promise<unknown> {
  if (!req.is('application/json')) {
    return Promise.reject(
      new AppError(415, 'unsupported-media-type', 'Send the body as application/json.'),
    );
  }
  return new Promise((resolve, reject) =>
    parseJson(req, res, (err?: unknown) => (err ? reject(err) : resolve(req.body as unknown))),
  );
}

/**
 * Reads and drops any body of a request that takes none, so nothing the browser sent can be
 * streamed upstream behind our back, and an oversized one still gets a clean 413. The bytes are
 * counted, never decoded: a body that claims a Content-Encoding it does not have is dropped all
 * the same, so it cannot stop a logout (`DELETE /session` is 204 whatever came with it).
 */
export function discardBody(): RequestHandler {
  return (req, _res, next) => {
    // As body-parser decides (type-is hasBody): a body is announced by one of these headers.
    if (
      req.headers['transfer-encoding'] === undefined &&
      req.headers['content-length'] === undefined
    ) {
      return next();
    }
    // raw-body's errors carry a 4xx status and body-parser's types (too large, aborted, size).
    getRawBody(req, { limit: JSON_BODY_LIMIT, length: req.headers['content-length'] }, (err) =>
      next(err ?? undefined),
    );
  };
}

const dropBody = discardBody();

/** discardBody as a promise, for a handler that reads the body after its own checks. */
export function discardBodyOf(req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) =>
    dropBody(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
  );
}
