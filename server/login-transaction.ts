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
  const attributes = {
    httpOnly: true,
    secure: options.secure,
    sameSite: 'lax' as const,
    path: CALLBACK_PATH,
  };

  return {
    start(res, tx) {
      const sealed = options.vault.seal(JSON.stringify({ ...tx, issuedAt: options.clock() }));
      res.cookie(nameFor(tx.state), sealed, { ...attributes, maxAge: LOGIN_TRANSACTION_TTL_MS });
    },

    finish(req, res, state) {
      const name = nameFor(state);
      const raw = readCookie(req, name);
      // One use: the cookie goes whatever happens next.
      res.clearCookie(name, attributes);
      const refused = new BadRequestError(
        'Unknown, expired or already used login state: start again at /auth/login.',
      );
      if (raw === undefined) throw refused;
      let tx: LoginTransaction;
      try {
        tx = JSON.parse(options.vault.open(raw)) as LoginTransaction;
      } catch {
        throw refused;
      }
      if (tx.state !== state || options.clock() - tx.issuedAt > LOGIN_TRANSACTION_TTL_MS) {
        throw refused;
      }
      return tx;
    },
  };
}
