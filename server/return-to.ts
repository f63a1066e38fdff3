import { BadRequestError } from './errors';

const MAX_LENGTH = 2048;

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
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) {
    throw new BadRequestError('returnTo must be a path on this site, like /app.');
  }
  const unsafe =
    !raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\') || hasControlChar(raw);
  if (unsafe || new URL(raw, publicOrigin).origin !== publicOrigin) {
    throw new BadRequestError('returnTo must be a path on this site, like /app.');
  }
  return raw;
}
