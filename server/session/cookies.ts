import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import type { Config } from '../../config/types';

/**
 * The attributes of the session cookie, in the form express-session and res.clearCookie take.
 * A partitioned cookie (CHIPS) is another cookie than an unpartitioned one of the same name: it
 * is cleared only by a Set-Cookie that says Partitioned too, so setting and clearing must share
 * these (docs/contract.md#cookies).
 */
export interface SessionCookieOptions {
  readonly path: '/';
  readonly httpOnly: true;
  readonly secure: boolean;
  readonly sameSite: 'strict' | 'lax' | 'none';
  readonly partitioned?: true;
}

/** The session cookie's attributes for this configuration. */
export function sessionCookieOptions(config: Config): SessionCookieOptions {
  return {
    path: '/',
    httpOnly: true,
    secure: config.secureCookies,
    sameSite: config.session.cookieSameSite,
    ...(config.session.partitioned ? { partitioned: true as const } : {}),
  };
}

/** The attributes of a cookie written by hand (`; HttpOnly; Secure; SameSite=None; Partitioned`). */
export function cookieAttributes(options: {
  secure: boolean;
  sameSite: 'Strict' | 'Lax' | 'None';
  partitioned: boolean;
}): string {
  return (
    `; HttpOnly${options.secure ? '; Secure' : ''}; SameSite=${options.sameSite}` +
    (options.partitioned ? '; Partitioned' : '')
  );
}

/**
 * Secure cookies over http loopback, embedded: browsers take Secure (and so SameSite=None and
 * Partitioned) cookies from loopback, a secure context, but express-session sends a Secure
 * cookie only on a request it believes is https. Only for an http loopback PUBLIC_BASE_URL with
 * EMBED_ORIGINS (the demo, tests); undefined otherwise, where https or TRUST_PROXY decides.
 */
export function loopbackCountsAsSecure(
  config: Config,
): ((req: IncomingMessage) => void) | undefined {
  if (!config.secureCookies || !config.publicOrigin.startsWith('http:')) return undefined;
  // An own property over Express's prototype getter, on this request only.
  return (req) => Object.defineProperty(req, 'secure', { value: true });
}
/** The cookies of the raw header as name/value pairs (RFC 6265 §5.4 syntax), without decoding tricks. */
export function* cookiesOf(req: Request): Generator<[string, string]> {
  const header = req.headers.cookie;
  if (header === undefined) return;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) yield [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
  }
}

/** Reads one cookie from the raw header; the first of that name, as browsers send the most specific first. */
export function readCookie(req: Request, name: string): string | undefined {
  for (const [key, value] of cookiesOf(req)) if (key === name) return value;
  return undefined;
}
