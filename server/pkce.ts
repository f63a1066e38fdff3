import { createHash, randomBytes } from 'node:crypto';

/** A random URL-safe value with `bytes` of CSPRNG entropy (base64url, no padding). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** PKCE pair (RFC 7636 S256): a 43-char verifier from 32 random bytes and its challenge. */
export function createPkcePair(): { verifier: string; challenge: string } {
  const verifier = randomToken(32);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}
