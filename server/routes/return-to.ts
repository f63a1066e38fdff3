import { BadRequestError } from '../core/errors';

/**
 * The longest returnTo, in UTF-8 bytes. It travels sealed in the login transaction cookie
 * (base64url, +1/3): at this bound a cookie stays near 1.6 KB, far from the 4 KB browsers keep,
 * while 2,047 `é` would have made one of 5.7 KB that browsers silently drop.
 */
export const MAX_RETURN_TO_BYTES = 1024;

function hasControlChar(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Accepts `returnTo` only as a same-origin path: `/x`, never `//x`, `/\x` (browsers read a
 * backslash as a slash), an absolute URL, a scheme like `javascript:`, or control characters.
 * Resolving it against our own origin is the final check: it must not leave that origin.
 */
export function parseReturnTo(raw: unknown, publicOrigin: string): string {
  if (raw === undefined) return '/';
  if (typeof raw !== 'string' || raw.length === 0) {
    throw new BadRequestError('returnTo must be a path on this site, like /app.');
  }
  // Counted in bytes as the cookie holds it (UTF-8, JSON-escaped: a `"` takes two), not in
  // UTF-16 units: what matters is the size of the cookie it ends up in.
  if (
    raw.length > MAX_RETURN_TO_BYTES ||
    Buffer.byteLength(JSON.stringify(raw)) - 2 > MAX_RETURN_TO_BYTES
  ) {
    throw new BadRequestError(`returnTo is longer than ${MAX_RETURN_TO_BYTES} bytes.`);
  }
  const unsafe =
    !raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\') || hasControlChar(raw);
  if (unsafe || new URL(raw, publicOrigin).origin !== publicOrigin) {
    throw new BadRequestError('returnTo must be a path on this site, like /app.');
  }
  return raw;
}
