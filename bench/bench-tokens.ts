import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Bearer tokens of the lean upstream (bench/upstream.ts), a stand-in for Genesys: self-checking
 * strings `<kind>.<id>.<mac>`, where mac is HMAC-SHA256(key, `<kind>.<id>`) (base64url, first
 * 22 characters, 132 bits). The bench passes the key to the upstream at start, so it accepts any
 * token minted with it without being told each one: 100 000 seeded sessions cost the upstream
 * no table, and a check costs one HMAC of a few bytes (about 1 µs), like the cheap Map lookup a
 * real token cache would be. Real Genesys tokens are opaque; nothing in the gateway reads them.
 */

/** `bench` for access tokens, `benchr` for refresh tokens, `benchc` for authorization codes. */
export type TokenKind = 'bench' | 'benchr' | 'benchc';

const MAC_CHARS = 22;
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function macOf(key: Buffer, kind: TokenKind, id: string): string {
  return createHmac('sha256', key).update(`${kind}.${id}`).digest('base64url').slice(0, MAC_CHARS);
}

/** A token of `kind` for `id` (letters, digits, `-`, `_`). */
export function mintToken(key: Buffer, kind: TokenKind, id: string): string {
  if (!ID_PATTERN.test(id)) throw new TypeError(`bad token id ${JSON.stringify(id)}`);
  return `${kind}.${id}.${macOf(key, kind, id)}`;
}

/** The id inside a token of `kind` minted with `key`, or undefined for anything else. */
export function tokenId(key: Buffer, kind: TokenKind, token: string): string | undefined {
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (first <= 0 || last <= first || token.slice(0, first) !== kind) return undefined;
  const id = token.slice(first + 1, last);
  const mac = token.slice(last + 1);
  if (mac.length !== MAC_CHARS || !ID_PATTERN.test(id)) return undefined;
  const expected = macOf(key, kind, id);
  return timingSafeEqual(Buffer.from(mac), Buffer.from(expected)) ? id : undefined;
}

/** The user a token id belongs to: ids are `<user>-<n>`, so seeded tokens can spread over users. */
export function userOfTokenId(id: string): { id: string; name: string } {
  const dash = id.lastIndexOf('-');
  const user = dash > 0 ? id.slice(0, dash) : id;
  return { id: `bench-user-${user}`, name: `Bench User ${user}` };
}
