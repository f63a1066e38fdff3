import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** X-Request-Id of this request; also sent upstream as ININ-Correlation-Id. */
      id: string;
    }
  }
}

// docs/contract.md#request-ids: keep the caller's id only when it is short and safe to echo into headers and logs.
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Adopts a safe incoming X-Request-Id or mints a UUID, and echoes it on every response. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming !== undefined && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    next();
  };
}
