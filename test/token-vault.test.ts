import { createHash, randomBytes } from 'node:crypto';
import { TokenVaultError, createTokenVault, tokenVaultKeyId } from '../server/session/token-vault';

const TOKENS = JSON.stringify({ accessToken: 'AT-secret-123', refreshToken: 'RT-secret-456' });
const B64URL = '[A-Za-z0-9_-]';

function openError(open: () => unknown): TokenVaultError {
  try {
    open();
  } catch (err) {
    if (err instanceof TokenVaultError) return err;
    throw err;
  }
  throw new Error('expected open to throw');
}

// Replaces the character at `index` with another one of the same alphabet.
function flipChar(part: string, index: number): string {
  const alphabet = /^[0-9a-f]+$/.test(part)
    ? '0123456789abcdef'
    : 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const current = part[index] ?? '';
  const replacement = alphabet[(alphabet.indexOf(current) + 1) % alphabet.length] ?? 'A';
  return part.slice(0, index) + replacement + part.slice(index + 1);
}

function withPart(sealed: string, index: number, edit: (part: string) => string): string {
  const parts = sealed.split('.');
  parts[index] = edit(parts[index] ?? '');
  return parts.join('.');
}

describe('token vault', () => {
  const key = randomBytes(32);
  const vault = createTokenVault([key]);

  describe('seal and open', () => {
    it.each([
      ['a token set', TOKENS],
      ['an empty string', ''],
      ['non-ASCII text', 'jeton – トークン – 🔑'],
      ['a large value', 'x'.repeat(100_000)],
    ])('round-trips %s', (_name, plain) => {
      expect(vault.open(vault.seal(plain))).toBe(plain);
    });

    it('writes v1.<keyId>.<iv>.<ciphertext>.<tag> with a short key fingerprint', () => {
      const sealed = vault.seal(TOKENS);
      expect(sealed).toMatch(
        new RegExp(`^v1\\.[0-9a-f]{8}\\.${B64URL}{16}\\.${B64URL}+\\.${B64URL}{22}$`),
      );
      const keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
      expect(sealed.split('.')[1]).toBe(keyId);
      expect(tokenVaultKeyId(key)).toBe(keyId);
    });

    it('leaves no plaintext in the sealed output', () => {
      const sealed = vault.seal(TOKENS);
      for (const secret of ['AT-secret-123', 'RT-secret-456', 'accessToken']) {
        expect(sealed).not.toContain(secret);
        expect(sealed).not.toContain(Buffer.from(secret).toString('base64url'));
      }
    });

    it('uses a fresh IV for every seal', () => {
      const sealed = Array.from({ length: 1000 }, () => vault.seal(TOKENS));
      expect(new Set(sealed.map((s) => s.split('.')[2])).size).toBe(1000);
      expect(new Set(sealed).size).toBe(1000);
    });
  });

  describe('key rotation', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const sealedWithOld = createTokenVault([oldKey]).seal(TOKENS);

    it('opens a value sealed with an old key after a new key is put first', () => {
      const rotated = createTokenVault([newKey, oldKey]);
      expect(rotated.open(sealedWithOld)).toBe(TOKENS);
    });

    it('seals with the first key only', () => {
      const rotated = createTokenVault([newKey, oldKey]);
      const sealed = rotated.seal(TOKENS);
      expect(sealed.split('.')[1]).toBe(tokenVaultKeyId(newKey));
      expect(createTokenVault([newKey]).open(sealed)).toBe(TOKENS);
    });

    it('no longer opens it once the old key is removed', () => {
      const error = openError(() => createTokenVault([newKey]).open(sealedWithOld));
      expect(error.reason).toBe('unknown-key');
    });
  });

  describe('attacks on a sealed value', () => {
    const sealed = vault.seal(TOKENS);

    it.each([
      [0, 'version', 'malformed'],
      [1, 'key id', 'unknown-key'],
      [2, 'IV', 'tampered'],
      [3, 'ciphertext', 'tampered'],
      [4, 'tag', 'tampered'],
    ])('refuses an edited character in part %i (%s)', (index, _name, reason) => {
      const first = withPart(sealed, index, (part) => flipChar(part, 0));
      expect(openError(() => vault.open(first)).reason).toBe(reason);
      // The last base64url character may also carry spare bits, so its edit can be caught as
      // a non-canonical encoding before authentication; either way it is refused.
      const last = withPart(sealed, index, (part) => flipChar(part, part.length - 1));
      expect(last).not.toBe(sealed);
      expect([reason, 'malformed']).toContain(openError(() => vault.open(last)).reason);
    });

    it.each([
      [2, 'IV'],
      [3, 'ciphertext'],
      [4, 'tag'],
    ])('refuses a flipped bit in the decoded %s', (index) => {
      for (const bit of [0, 7]) {
        const forged = withPart(sealed, index, (part) => {
          const bytes = Buffer.from(part, 'base64url');
          bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ (1 << bit);
          return bytes.toString('base64url');
        });
        expect(openError(() => vault.open(forged)).reason).toBe('tampered');
      }
    });

    it('refuses a ciphertext spliced from another sealed value', () => {
      const other = vault.seal(TOKENS.replace('AT', 'XX'));
      const forged = withPart(sealed, 3, () => other.split('.')[3] ?? '');
      expect(openError(() => vault.open(forged)).reason).toBe('tampered');
    });

    it('refuses a truncated ciphertext', () => {
      const forged = withPart(sealed, 3, (part) =>
        Buffer.from(part, 'base64url').subarray(0, -3).toString('base64url'),
      );
      expect(openError(() => vault.open(forged)).reason).toBe('tampered');
    });

    it.each([
      ['empty', ''],
      ['one word', 'garbage'],
      ['too few parts', sealed.split('.').slice(0, 4).join('.')],
      ['too many parts', `${sealed}.extra`],
      ['a short tag', withPart(sealed, 4, (part) => part.slice(0, 12))],
      ['a short IV', withPart(sealed, 2, (part) => part.slice(0, 8))],
      ['characters outside base64url', withPart(sealed, 3, (part) => `${part.slice(1)}+`)],
      ['padding', withPart(sealed, 4, (part) => `${part}==`)],
      ['a non-canonical encoding', withPart(sealed, 4, (part) => part.slice(0, -1) + 'B')],
      ['an upper-case key id', withPart(sealed, 1, (part) => part.toUpperCase() + 'X')],
      ['another version', sealed.replace(/^v1/, 'v2')],
    ])('refuses %s as malformed', (_name, forged) => {
      expect(openError(() => vault.open(forged)).reason).toBe('malformed');
    });

    it('refuses a value that is not a string', () => {
      expect(openError(() => vault.open(undefined as unknown as string)).reason).toBe('malformed');
    });

    it('never puts the plaintext or the sealed value in its error message', () => {
      const forged = withPart(sealed, 3, (part) => flipChar(part, 0));
      const error = openError(() => vault.open(forged));
      expect(error.message).not.toContain(forged.split('.')[3]);
      expect(error.message).not.toContain('secret');
    });
  });

  describe('keys', () => {
    it('needs at least one key', () => {
      expect(() => createTokenVault([])).toThrow(TypeError);
    });

    it('needs 32-byte keys', () => {
      expect(() => createTokenVault([randomBytes(16)])).toThrow(/must be 32 bytes/);
      expect(() => createTokenVault([randomBytes(32), randomBytes(33)])).toThrow(/#2 must be/);
    });

    it('accepts the same key listed twice', () => {
      const twice = createTokenVault([key, Buffer.from(key)]);
      expect(twice.open(vault.seal(TOKENS))).toBe(TOKENS);
    });

    it('is not affected when the caller later overwrites its key buffer', () => {
      const own = Buffer.from(randomBytes(32));
      const mine = createTokenVault([own]);
      const sealed = mine.seal(TOKENS);
      own.fill(0);
      expect(mine.open(sealed)).toBe(TOKENS);
      expect(mine.open(mine.seal(TOKENS))).toBe(TOKENS);
    });
  });
});
