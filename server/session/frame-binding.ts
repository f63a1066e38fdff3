import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { BadRequestError } from '../core/errors';
import type { TokenVault } from './token-vault';
import { cookieAttributes, readCookie } from './cookies';
import { digestOf } from './handoff';
import { LOGIN_TRANSACTION_TTL_MS } from './login-transaction';

/**
 * The frame binding (docs/embedded.md#popup-login): a random secret in a partitioned cookie of
 * the frame, which no other partition, frame of another site or popup holds. A popup login
 * carries its digest to the callback, and only the frame holding the secret can take the code.
 */
export const FRAME_BINDING_COOKIE = '__Host-Http-bff-frame';
const SECRET = /^[A-Za-z0-9_-]{22}$/;

/** What `/auth/login?popup=` carries: whose frame the login is for, and where it goes after. */
export interface PopupTicket {
  readonly binding: string;
  readonly returnTo: string;
}

/** Frame bindings and the popup tickets made from them. */
export interface FrameBindings {
  /**
   * The digest of the frame's binding: the one its cookie holds, or a new one set now. Frames of
   * one partition (two Genesys tabs showing the app) share it, so neither undoes the other's login.
   */
  bind(req: Request, res: Response): string;
  /** The digest of the request's frame binding, or undefined without a well-formed one. */
  digestIn(req: Request): string | undefined;
  /** A sealed ticket for the popup's login URL: good for the login transaction's lifetime. */
  ticket(binding: string, returnTo: string): string;
  /** Opens a ticket; 400 when it is not one of ours or has lapsed. */
  open(ticket: string): PopupTicket;
}

export function frameBindings(options: { vault: TokenVault; clock: () => number }): FrameBindings {
  const { vault, clock } = options;
  // Always Secure, SameSite=None and Partitioned: this cookie exists only embedded, in a frame.
  const attributes =
    `; Path=/; Max-Age=${LOGIN_TRANSACTION_TTL_MS / 1000}` +
    cookieAttributes({ secure: true, sameSite: 'None', partitioned: true });
  const secretIn = (req: Request): string | undefined => {
    const value = readCookie(req, FRAME_BINDING_COOKIE);
    return value !== undefined && SECRET.test(value) ? value : undefined;
  };
  const lapsed = (): BadRequestError =>
    new BadRequestError(
      'This login window is no longer valid: close it and log in again from the app.',
    );
  return {
    bind(req, res) {
      const secret = secretIn(req) ?? randomBytes(16).toString('base64url');
      // Set again each time, so the cookie outlives the newest ticket made from it.
      res.append('Set-Cookie', `${FRAME_BINDING_COOKIE}=${secret}${attributes}`);
      return digestOf(secret);
    },
    digestIn(req) {
      const secret = secretIn(req);
      return secret === undefined ? undefined : digestOf(secret);
    },
    ticket(binding, returnTo) {
      return vault.seal(JSON.stringify({ b: binding, r: returnTo, t: clock() }));
    },
    open(ticket) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(vault.open(ticket));
      } catch {
        throw lapsed();
      }
      // Sealed by us, yet checked like any input: a key shared with another service, or a
      // sealed value of another kind (`null`, a token set), must not reach the destructuring.
      if (typeof parsed !== 'object' || parsed === null) throw lapsed();
      const { b, r, t } = parsed as { b?: unknown; r?: unknown; t?: unknown };
      if (typeof b !== 'string' || typeof r !== 'string' || typeof t !== 'number') throw lapsed();
      if (clock() - t > LOGIN_TRANSACTION_TTL_MS) throw lapsed();
      return { binding: b, returnTo: r };
    },
  };
}
