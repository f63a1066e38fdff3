import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { BadRequestError } from './errors';
import type { TokenVault } from './token-vault';

/** A pending login: what the callback needs to finish it. */
export interface LoginTransaction {
  readonly state: string;
  readonly verifier: string;
  readonly returnTo: string;
  /** ms epoch */
  readonly issuedAt: number;
}

/** SPEC: the login transaction lives 10 minutes. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60 * 1000;
const CALLBACK_PATH = '/auth/callback';

/** Reads one cookie from the raw header (RFC 6265 §5.4 syntax), without decoding tricks. */
function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether the request carries cookie `name` at all (any value). */
export function hasCookie(req: Request, name: string): boolean {
  return readCookie(req, name) !== undefined;
}

/**
 * The login transaction lives in its own cookie per pending login (SPEC, RFC 10017): Lax so it
 * survives the cross-site return from Genesys while the session cookie stays Strict, scoped to
 * /auth/callback, sealed with AES-GCM (integrity and secrecy of the PKCE verifier). The cookie
 * name carries a digest of the state so logins started in several tabs do not overwrite each other.
 */
export function loginTransactions(options: {
  vault: TokenVault;
  secure: boolean;
  clock: () => number;
}): {
  start(res: Response, tx: Omit<LoginTransaction, 'issuedAt'>): void;
  finish(req: Request, res: Response, state: string): LoginTransaction;
} {
  // __Secure- (not __Host-): __Host- requires Path=/, and this cookie must stay on the callback.
  const prefix = options.secure ? '__Secure-bff-login-' : 'bff-login-';
  const nameFor = (state: string): string =>
    prefix + createHash('sha256').update(state).digest('base64url').slice(0, 16);
  // The Set-Cookie lines are written here rather than by res.cookie: the attributes never change
  // and the value is base64url (nothing to encode), so only the name and value vary per login.
  const attributes = `; Path=${CALLBACK_PATH}; HttpOnly${options.secure ? '; Secure' : ''}; SameSite=Lax`;
  const maxAge = `; Max-Age=${LOGIN_TRANSACTION_TTL_MS / 1000}`;
  const cleared = `=; Expires=${new Date(0).toUTCString()}${attributes}`;
  const refused = (): BadRequestError =>
    new BadRequestError(
      'Unknown, expired or already used login state: start again at /auth/login.',
    );

  return {
    start(res, tx) {
      const issuedAt = options.clock();
      const sealed = options.vault.seal(JSON.stringify({ ...tx, issuedAt }));
      // Real time, as browsers read it (Max-Age wins where both are known).
      const expires = new Date(Date.now() + LOGIN_TRANSACTION_TTL_MS).toUTCString();
      res.append(
        'Set-Cookie',
        `${nameFor(tx.state)}=${sealed}${maxAge}; Expires=${expires}${attributes}`,
      );
    },

    finish(req, res, state) {
      const name = nameFor(state);
      const raw = readCookie(req, name);
      // One use: the cookie goes whatever happens next.
      res.append('Set-Cookie', name + cleared);
      if (raw === undefined) throw refused();
      let tx: LoginTransaction;
      try {
        tx = JSON.parse(options.vault.open(raw)) as LoginTransaction;
      } catch {
        throw refused();
      }
      if (tx.state !== state || options.clock() - tx.issuedAt > LOGIN_TRANSACTION_TTL_MS) {
        throw refused();
      }
      return tx;
    },
  };
}
