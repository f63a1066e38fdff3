import type { Request } from 'express';
import { BadRequestError } from './errors';

/** A single query value; repeated or nested parameters are refused rather than guessed at. */
export function singleQuery(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined || typeof value === 'string') return value;
  throw new BadRequestError(`Query parameter ${name} must be given once.`);
}

/** An optional `true`/`false` query flag, exactly those words (SPEC: else 400). */
export function booleanQuery(req: Request, name: string): boolean | undefined {
  const value = singleQuery(req, name);
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new BadRequestError(`Query parameter ${name} must be true or false.`);
}
