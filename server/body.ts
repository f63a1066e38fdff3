import express, { type RequestHandler } from 'express';
import { AppError } from './errors';

/** Largest JSON body the gateway reads: an IdleTokenTimeout with group bundles is well under it. */
export const JSON_BODY_LIMIT = '16kb';

/** Reads a JSON body: 415 unless the content type is JSON, 413 over the limit, 400 when malformed. */
export function jsonBody(): RequestHandler[] {
  return [
    (req, _res, next) => {
      if (!req.is('application/json')) {
        return next(
          new AppError(415, 'unsupported-media-type', 'Send the body as application/json.'),
        );
      }
      next();
    },
    // Not `strict`: `null` or `"x"` is valid JSON, and the route's validator answers it with
    // "must be a JSON object" instead of body-parser's misleading "not valid JSON".
    express.json({ limit: JSON_BODY_LIMIT, strict: false, type: 'application/json' }),
  ];
}

/**
 * Reads and drops any body of a request that takes none, so nothing the browser sent can be
 * streamed upstream behind our back, and an oversized one still gets a clean 413.
 */
export function discardBody(): RequestHandler {
  return express.raw({ type: () => true, limit: JSON_BODY_LIMIT });
}
