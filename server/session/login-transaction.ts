import type { Request, Response } from 'express';
import { createHash, randomBytes } from 'node:crypto';
import { BadRequestError } from '../core/errors';
import type { TokenVault } from './token-vault';
import type { Coordination } from '../stores/contract';
import { cookieAttributes, cookiesOf, readCookie } from './cookies';

/** A pending login: what the callback needs to finish it. */
export interface LoginTransaction {
  readonly state: string;
  readonly verifier: string;
  readonly returnTo: string;
  /** ms epoch */
  readonly issuedAt: number;
  /** A popup login's frame binding digest (session/frame-binding.ts): the callback hands over to that frame. */
  readonly popup?: string;
}

/** docs/contract.md#login-transaction: a login transaction lives 10 minutes. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60 * 1000;
const CALLBACK_PATH = '/auth/callback';

/**
 * Whether the request carries the cookies of any pending login, over http or https. A callback
 * without any did not start its login in this browser under this address.
 */
export function holdsPendingLogin(req: Request): boolean {
  for (const [name] of cookiesOf(req)) {
    if (/^(?:__Secure-|__Host-)?bff-(?:login|bind)-/.test(name)) return true;
  }
  return false;
}

/** Whether the request carries cookie `name` at all (any value). */
export function hasCookie(req: Request, name: string): boolean {
  return readCookie(req, name) !== undefined;
}

/** How many logins a browser may have pending; starting one more drops the oldest. */
export const MAX_PENDING_LOGINS = 5;
const BINDING = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})$/;
const DIGEST_LENGTH = 16;

/** One pending login's binding cookie, as read back from the Cookie header. */
interface Binding {
  readonly digest: string;
  readonly issuedAt: number;
  readonly secret: string;
}

/**
 * The login transaction lives in its own cookie per pending login (docs/contract.md#login-transaction, RFC 10017): Lax so it
 * survives the cross-site return from Genesys while the session cookie stays Strict, scoped to
 * /auth/callback, sealed with AES-GCM (integrity and secrecy of the PKCE verifier). The cookie
 * name carries a digest of the state so logins started in several tabs do not overwrite each other.
 *
 * A sealed transaction alone is not enough: a sibling subdomain can plant one it got for itself
 * (`Domain=`, cookie tossing) and send the victim to its own callback URL, logging the victim in
 * as the attacker. So each login also sets a small binding cookie, `__Host-` over https, which
 * no other host can set: its random secret is sealed into the transaction, and the callback
 * wants both. Being Path=/ (the prefix demands it), the bindings are also what /auth/login sees
 * of the pending logins, so it can drop the oldest beyond MAX_PENDING_LOGINS.
 */
export function loginTransactions(options: {
  vault: TokenVault;
  secure: boolean;
  clock: () => number;
}): {
  start(req: Request, res: Response, tx: Omit<LoginTransaction, 'issuedAt'>): void;
  finish(req: Request, res: Response, state: string): LoginTransaction;
} {
  // __Secure- (not __Host-): __Host- requires Path=/, and this cookie must stay on the callback.
  const txPrefix = options.secure ? '__Secure-bff-login-' : 'bff-login-';
  const bindPrefix = options.secure ? '__Host-bff-bind-' : 'bff-bind-';
  const digestOf = (state: string): string =>
    createHash('sha256').update(state).digest('base64url').slice(0, DIGEST_LENGTH);
  // The Set-Cookie lines are written here rather than by res.cookie: the attributes never change
  // and the values are base64url (nothing to encode), so only the names and values vary per login.
  // Lax and unpartitioned even embedded: a login always runs in a top-level window (the popup).
  const flags = cookieAttributes({ secure: options.secure, sameSite: 'Lax', partitioned: false });
  const txAttributes = `; Path=${CALLBACK_PATH}${flags}`;
  const bindAttributes = `; Path=/${flags}`;
  const maxAge = `; Max-Age=${LOGIN_TRANSACTION_TTL_MS / 1000}`;
  const expired = `=; Expires=${new Date(0).toUTCString()}`;
  const forget = (res: Response, digest: string): void => {
    res.append('Set-Cookie', `${txPrefix}${digest}${expired}${txAttributes}`);
    res.append('Set-Cookie', `${bindPrefix}${digest}${expired}${bindAttributes}`);
  };
  const refused = (): BadRequestError =>
    new BadRequestError(
      'Unknown, expired or already used login state: start again at /auth/login.',
    );

  /** The binding cookies the request carries; malformed ones count too, as the oldest. */
  function bindingsOf(req: Request): Binding[] {
    const found: Binding[] = [];
    for (const [name, value] of cookiesOf(req)) {
      if (!name.startsWith(bindPrefix)) continue;
      const match = BINDING.exec(value);
      found.push({
        digest: name.slice(bindPrefix.length),
        issuedAt: match ? parseInt(match[1] as string, 36) : 0,
        secret: match ? (match[2] as string) : '',
      });
    }
    return found;
  }

  return {
    start(req, res, tx) {
      // Bounded: an abandoned login costs its cookies for 10 minutes, and enough of them would
      // push the callback's Cookie header past the server's limit (a bare 431, no login at all).
      const pending = bindingsOf(req).sort((a, b) => a.issuedAt - b.issuedAt);
      for (const old of pending.slice(0, Math.max(0, pending.length - MAX_PENDING_LOGINS + 1))) {
        if (/^[A-Za-z0-9_-]+$/.test(old.digest)) forget(res, old.digest);
      }
      const issuedAt = options.clock();
      const binding = randomBytes(16).toString('base64url');
      const sealed = options.vault.seal(JSON.stringify({ ...tx, issuedAt, binding }));
      const digest = digestOf(tx.state);
      // Real time, as browsers read it (Max-Age wins where both are known).
      const expires = `; Expires=${new Date(Date.now() + LOGIN_TRANSACTION_TTL_MS).toUTCString()}`;
      res.append('Set-Cookie', `${txPrefix}${digest}=${sealed}${maxAge}${expires}${txAttributes}`);
      res.append(
        'Set-Cookie',
        `${bindPrefix}${digest}=${issuedAt.toString(36)}.${binding}${maxAge}${expires}${bindAttributes}`,
      );
    },

    finish(req, res, state) {
      const digest = digestOf(state);
      const raw = readCookie(req, txPrefix + digest);
      const bound = BINDING.exec(readCookie(req, bindPrefix + digest) ?? '');
      // One use: both cookies go whatever happens next.
      forget(res, digest);
      if (raw === undefined || bound === null) throw refused();
      let tx: LoginTransaction & { binding?: unknown };
      try {
        tx = JSON.parse(options.vault.open(raw)) as LoginTransaction & { binding?: unknown };
      } catch {
        throw refused();
      }
      if (
        tx.state !== state ||
        tx.binding !== bound[2] ||
        options.clock() - tx.issuedAt > LOGIN_TRANSACTION_TTL_MS
      ) {
        throw refused();
      }
      return {
        state: tx.state,
        verifier: tx.verifier,
        returnTo: tx.returnTo,
        issuedAt: tx.issuedAt,
        ...(typeof tx.popup === 'string' ? { popup: tx.popup } : {}),
      };
    },
  };
}

/** Spends login states: each is good for one use across all replicas. */
export interface LoginStates {
  /** True the first time `state` is spent, false ever after (within the transaction lifetime). */
  spend(state: string): Promise<boolean>;
}

/** Login states spent through the store's one-time claims (atomic across replicas). */
export function loginStates(store: Coordination): LoginStates {
  return { spend: (state) => store.claimOnce(`login-state:${state}`, LOGIN_TRANSACTION_TTL_MS) };
}
