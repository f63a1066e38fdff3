import { createHash, randomBytes } from 'node:crypto';

/** A random URL-safe value with `bytes` of CSPRNG entropy (base64url, no padding). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * The random values of one login: `state` and the PKCE pair (RFC 7636 S256), each from 32
 * CSPRNG bytes, read in one call.
 */
export function createLoginSecrets(): { state: string; verifier: string; challenge: string } {
  const bytes = randomBytes(64);
  const state = bytes.toString('base64url', 0, 32);
  const verifier = bytes.toString('base64url', 32, 64);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { state, verifier, challenge };
}
