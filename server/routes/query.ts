import type { Request } from 'express';
import { BadRequestError } from '../core/errors';

/** A single query value; repeated or nested parameters are refused rather than guessed at. */
export function singleQuery(req: Request, name: string): string | undefined {
  return singleValue(req.query, name);
}

/**
 * As singleQuery, from a `req.query` read once: Express 5 parses the query string again on every
 * read of `req.query`, so a handler needing several parameters reads it once and passes it here.
 */
export function singleValue(query: Request['query'], name: string): string | undefined {
  const value = query[name];
  if ((value === undefined || typeof value === 'string') && !hasBracketed(query, name)) {
    return value;
  }
  throw new BadRequestError(`Query parameter ${name} must be given once.`);
}

/**
 * Whether the query also has `name[]` or `name[x]`: Express 5's simple parser keeps such a key
 * as it is, so `preserveIdleTTL[]=true` would otherwise pass as "no flag" (docs/contract.md#query-flags: 400).
 */
function hasBracketed(query: Request['query'], name: string): boolean {
  for (const key in query) {
    if (key.length > name.length && key.charCodeAt(name.length) === 0x5b && key.startsWith(name)) {
      return true;
    }
  }
  return false;
}

/** An optional `true`/`false` query flag, exactly those words (docs/contract.md#query-flags: else 400). */
export function booleanQuery(req: Request, name: string): boolean | undefined {
  const value = singleQuery(req, name);
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new BadRequestError(`Query parameter ${name} must be true or false.`);
}
