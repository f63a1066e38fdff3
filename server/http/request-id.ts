import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { setRequestId } from '../core/request-id';

// docs/contract.md#request-ids: keep the caller's id only when it is short and safe to echo into
// headers and logs.
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Adopts a safe incoming X-Request-Id or mints a UUID, and echoes it on every response. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming !== undefined && SAFE_ID.test(incoming) ? incoming : randomUUID();
    setRequestId(req, id);
    res.setHeader('X-Request-Id', id);
    next();
  };
}
