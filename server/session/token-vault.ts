import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const FORMAT_VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
// 96-bit IVs are the GCM default (NIST SP 800-38D §8.2.2); random IVs stay safe far beyond the
// number of seals one key sees between rotations.
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_PATTERN = /^[0-9a-f]{8}$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;
// A lone UTF-16 surrogate has no UTF-8 form: sealing it would open as U+FFFD, another string.
const LONE_SURROGATE = /\p{Cs}/u;

/** Why a sealed value could not be opened (never carries the value itself). */
export type TokenVaultErrorReason = 'malformed' | 'unknown-key' | 'tampered';

/** Thrown by `open` for garbage, an unknown key or a failed authentication; never partial data. */
export class TokenVaultError extends Error {
  override readonly name = 'TokenVaultError';
  readonly reason: TokenVaultErrorReason;

  constructor(reason: TokenVaultErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Seals strings (the token set) for storage at rest and opens them again. */
export interface TokenVault {
  /**
   * AES-256-GCM with the first key: `v1.<keyId>.<iv>.<ciphertext>.<tag>`, base64url parts.
   * Throws TypeError for a string with a lone surrogate (JSON.stringify never makes one).
   */
  seal(plain: string): string;
  /** Opens a value sealed with any of the vault's keys; throws TokenVaultError otherwise. */
  open(sealed: string): string;
}

/** Short public fingerprint of a key, so `open` picks the right key without trying them all. */
export function tokenVaultKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Creates a vault over `keys`: the first key encrypts, every key decrypts (rotation). */
export function createTokenVault(keys: readonly Buffer[]): TokenVault {
  const byId = new Map<string, Buffer>();
  for (const [index, key] of keys.entries()) {
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      throw new TypeError(`token vault key #${index + 1} must be ${KEY_BYTES} bytes`);
    }
    const id = tokenVaultKeyId(key);
    const known = byId.get(id);
    if (known && !known.equals(key)) {
      throw new TypeError(`token vault keys #${index + 1} and an earlier one share a key id`);
    }
    // Copies, so a caller that later zeroes or reuses its buffers cannot change the vault.
    if (!known) byId.set(id, Buffer.from(key));
  }
  const first = keys[0];
  if (!first) throw new TypeError('token vault needs at least one key');
  const sealKeyId = tokenVaultKeyId(first);
  const sealKey = byId.get(sealKeyId) as Buffer;

  return {
    seal(plain: string): string {
      if (typeof plain !== 'string' || LONE_SURROGATE.test(plain)) {
        throw new TypeError('token vault seals well-formed strings only (no lone surrogate)');
      }
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, sealKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(headerOf(sealKeyId));
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [
        FORMAT_VERSION,
        sealKeyId,
        iv.toString('base64url'),
        ciphertext.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
      ].join('.');
    },

    open(sealed: string): string {
      if (typeof sealed !== 'string') throw malformed();
      const parts = sealed.split('.');
      if (parts.length !== 5) throw malformed();
      const [version, keyId, ivPart, ciphertextPart, tagPart] = parts as [
        string,
        string,
        string,
        string,
        string,
      ];
      if (version !== FORMAT_VERSION || !KEY_ID_PATTERN.test(keyId)) throw malformed();
      const iv = decodePart(ivPart);
      const ciphertext = decodePart(ciphertextPart);
      const tag = decodePart(tagPart);
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw malformed();
      const key = byId.get(keyId);
      if (!key) {
        throw new TokenVaultError(
          'unknown-key',
          'sealed value uses a key this vault does not hold',
        );
      }
      const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(headerOf(keyId));
      decipher.setAuthTag(tag);
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch {
        throw new TokenVaultError('tampered', 'sealed value failed authentication');
      }
      return plain.toString('utf8');
    },
  };
}

// The version and key id are authenticated too, so neither can be swapped without detection.
function headerOf(keyId: string): Buffer {
  return Buffer.from(`${FORMAT_VERSION}.${keyId}`, 'ascii');
}

// Buffer.from(…, 'base64url') skips characters it does not know and ignores spare trailing
// bits, so only the canonical encoding is accepted: any edited character is then an error.
function decodePart(part: string): Buffer {
  if (!BASE64URL_PATTERN.test(part)) throw malformed();
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) throw malformed();
  return bytes;
}

function malformed(): TokenVaultError {
  return new TokenVaultError('malformed', 'sealed value is malformed');
}
