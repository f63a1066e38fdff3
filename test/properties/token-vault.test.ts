import fc from 'fast-check';
import {
  createTokenVault,
  TokenVaultError,
  tokenVaultKeyId,
} from '../../server/session/token-vault';
import { anyInput, edited, hostileString, isWellFormed, longString, RUNS } from './arbitraries';

const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes));
const twoKeys = fc
  .tuple(key, key)
  .filter(([a, b]) => !a.equals(b) && tokenVaultKeyId(a) !== tokenVaultKeyId(b));

/** Plaintexts: token-set JSON, any code points, hostile mixes, very long ones, the empty string. */
const plain = fc.oneof(
  fc.json(),
  fc.string({ unit: 'binary', maxLength: 200 }),
  hostileString.filter(isWellFormed),
  longString.filter(isWellFormed),
  fc.constant(''),
);

/** What open(x) did: returned a string, or threw. */
function opening(open: () => string): { ok: string } | { error: unknown } {
  try {
    return { ok: open() };
  } catch (error) {
    return { error };
  }
}

function refusedAsVaultError(result: { ok: string } | { error: unknown }): boolean {
  return 'error' in result && result.error instanceof TokenVaultError;
}

const SEALED_SHAPE = /^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/;

describe('token vault (property)', () => {
  it('open(seal(s)) gives back s for any well-formed string', () => {
    fc.assert(
      fc.property(key, plain, (k, s) => {
        const vault = createTokenVault([k]);
        expect(vault.open(vault.seal(s))).toBe(s);
      }),
      { numRuns: RUNS },
    );
  });

  it('no string comes back changed: seal round-trips it exactly or refuses it (a lone surrogate)', () => {
    const anyUtf16 = fc.oneof(
      fc.string16bits({ maxLength: 60 }),
      fc.constantFrom('\ud800', 'a\udfff', '\udc00\ud800'),
    );
    fc.assert(
      fc.property(key, anyUtf16, (k, s) => {
        const vault = createTokenVault([k]);
        let sealed: string;
        try {
          sealed = vault.seal(s);
        } catch (err) {
          expect(err).toBeInstanceOf(TypeError);
          expect(isWellFormed(s)).toBe(false);
          return;
        }
        expect(vault.open(sealed)).toBe(s);
      }),
      { numRuns: RUNS },
    );
  });

  it('a sealed value is five base64url fields (cookie- and header-safe) and new each time', () => {
    fc.assert(
      fc.property(key, plain, (k, s) => {
        const vault = createTokenVault([k]);
        const first = vault.seal(s);
        const second = vault.seal(s);
        expect(first).toMatch(SEALED_SHAPE);
        expect(second).toMatch(SEALED_SHAPE);
        expect(second).not.toBe(first);
      }),
      { numRuns: RUNS },
    );
  });

  it('any edit of a sealed value (flipped, inserted, deleted, truncated, re-ordered fields) fails to open', () => {
    const sealedAndEdited = fc.tuple(key, plain).chain(([k, s]) => {
      const vault = createTokenVault([k]);
      const sealed = vault.seal(s);
      return fc.tuple(fc.constant(vault), edited(sealed));
    });
    fc.assert(
      fc.property(sealedAndEdited, ([vault, tampered]) => {
        expect(refusedAsVaultError(opening(() => vault.open(tampered)))).toBe(true);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('a field re-spelled to decode to the same bytes (non-canonical base64url) fails to open', () => {
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(key, plain, fc.integer({ min: 2, max: 4 }), fc.nat(), (k, s, field, pick) => {
        const vault = createTokenVault([k]);
        const parts = vault.seal(s).split('.');
        const part = parts[field] as string;
        const bytes = Buffer.from(part, 'base64url');
        // Other last characters that differ only in the spare bits base64url decoding ignores.
        const twins = [...ALPHABET].filter(
          (c) =>
            c !== part.slice(-1) && Buffer.from(part.slice(0, -1) + c, 'base64url').equals(bytes),
        );
        fc.pre(part.length > 0 && twins.length > 0);
        parts[field] = part.slice(0, -1) + (twins[pick % twins.length] as string);
        expect(refusedAsVaultError(opening(() => vault.open(parts.join('.'))))).toBe(true);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('a field spliced in from another sealed value of the same key fails to open', () => {
    fc.assert(
      fc.property(key, plain, plain, fc.integer({ min: 2, max: 4 }), (k, a, b, field) => {
        const vault = createTokenVault([k]);
        const one = vault.seal(a).split('.');
        const other = vault.seal(b).split('.');
        const original = one.join('.');
        one[field] = other[field] as string;
        const spliced = one.join('.');
        // Two empty plaintexts have the same (empty) ciphertext field: nothing was changed.
        fc.pre(spliced !== original);
        expect(refusedAsVaultError(opening(() => vault.open(spliced)))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('a value sealed with another key never opens, even relabelled with this vault’s key id', () => {
    fc.assert(
      fc.property(twoKeys, plain, ([ours, theirs], s) => {
        const vault = createTokenVault([ours]);
        const foreign = createTokenVault([theirs]).seal(s);
        expect(refusedAsVaultError(opening(() => vault.open(foreign)))).toBe(true);
        const relabelled = foreign.replace(/^v1\.[0-9a-f]{8}\./, `v1.${tokenVaultKeyId(ours)}.`);
        expect(refusedAsVaultError(opening(() => vault.open(relabelled)))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('rotation: any vault that lists the sealing key, in any position, opens the value', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { minLength: 1, maxLength: 4, selector: (k) => tokenVaultKeyId(k) }),
        fc.nat(),
        plain,
        (keys, pick, s) => {
          const sealer = keys[pick % keys.length] as Buffer;
          const sealed = createTokenVault([sealer]).seal(s);
          expect(createTokenVault(keys).open(sealed)).toBe(s);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('open refuses any other input with a TokenVaultError, never another error', () => {
    fc.assert(
      fc.property(key, anyInput, (k, garbage) => {
        const vault = createTokenVault([k]);
        expect(refusedAsVaultError(opening(() => vault.open(garbage as string)))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
