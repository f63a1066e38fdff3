import fc from 'fast-check';

/**
 * Pieces an attacker strings together against URL, header and cookie parsers: slashes and
 * backslashes, percent-escapes (valid, double, broken, overlong), schemes, hosts, C0/C1 controls,
 * Unicode look-alikes and separators, lone surrogates.
 */
export const HOSTILE_FRAGMENTS: readonly string[] = [
  '/',
  '//',
  '///',
  '\\',
  '/\\',
  '\\/',
  '.',
  '..',
  '/../',
  '/./',
  '%2e%2e/',
  '%2F',
  '%2f',
  '%5C',
  '%5c',
  '%252F',
  '%00',
  '%0a',
  '%0D%0A',
  '%09',
  '%',
  '%Z',
  '%ZZ',
  '%E0%A4%A',
  '%C0%AF',
  '%FF',
  '%u002F',
  'http:',
  'https:',
  'javascript:',
  'data:',
  'JaVaScRiPt:',
  'file:',
  'http://evil.example',
  'https://evil.example',
  '//evil.example',
  'evil.example',
  '@evil.example',
  'user:pass@',
  '[::1]',
  '127.0.0.1',
  ':443',
  ':80',
  '?',
  '#',
  '&',
  '=',
  ';',
  ',',
  ':',
  '@',
  '+',
  '"',
  "'",
  '<',
  '>',
  '`',
  '{',
  '}',
  '|',
  '^',
  '[',
  ']',
  ' ',
  '\t',
  '\n',
  '\r',
  '\r\n',
  '\u0000',
  '\u0001',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0080',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\u00e9',
  '\u1680',
  '\u2028',
  '\u2029',
  '\u200b',
  '\u200e',
  '\u202e',
  '\u2215',
  '\u2044',
  '\ufeff',
  '\uff0f',
  '\uff3c',
  '\uff0e',
  '\ufffd',
  '\ud800',
  '\udfff',
  '\ud83d\ude00',
  '\u{1d4b3}',
  'a',
  'Z',
  '0',
  '-',
  '_',
  '~',
  'app',
  'x'.repeat(64),
];

/** A string glued from hostile fragments. */
export const fragmentString: fc.Arbitrary<string> = fc
  .array(fc.constantFrom(...HOSTILE_FRAGMENTS), { maxLength: 12 })
  .map((parts) => parts.join(''));

/** A very long string: a short pattern repeated past the usual caps (a few KB). */
export const longString: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fragmentString, fc.string({ unit: 'binary', minLength: 1, maxLength: 4 })),
    fc.integer({ min: 100, max: 3000 }),
  )
  .filter(([pattern]) => pattern.length > 0)
  .map(([pattern, times]) => pattern.repeat(times).slice(0, 12_000));

/**
 * Any string a hostile client could send: random UTF-16 (lone surrogates included), random code
 * points, printable ASCII, fragment mixes, very long strings, whitespace.
 */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fragmentString, weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string16bits({ maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
  {
    arbitrary: fc.stringOf(fc.constantFrom(' ', '\t', '\n', '\r', '\f', '\v'), { maxLength: 6 }),
    weight: 1,
  },
  { arbitrary: longString, weight: 1 },
);

/** Any JSON-ish or JavaScript value at all, including non-strings. */
export const anyInput: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.anything({ withBigInt: true, withNullPrototype: true, withSparseArray: true }),
);

/** Runs per property: enough to reach the corners, few enough to keep the folder fast. */
export const RUNS = 2000;

/** One edit of a string: what an attacker (or a truncating proxy) does to a sealed value. */
export type Edit =
  | { kind: 'replace'; at: number; with: string }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; text: string }
  | { kind: 'swap-parts'; a: number; b: number }
  | { kind: 'drop-part'; at: number }
  | { kind: 'duplicate-part'; at: number }
  | { kind: 'flip-case'; at: number };

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const editText = fc.oneof(
  fc.stringOf(fc.constantFrom(...BASE64URL), { minLength: 1, maxLength: 4 }),
  fc.constantFrom('.', '=', '==', '+', '/', ' ', '%3D', '\u0000', '\u00e9', 'A'),
  hostileString.filter((s) => s.length > 0),
);

/** Any single edit; `applyEdit` resolves its positions against the string it edits. */
export const edit: fc.Arbitrary<Edit> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('replace' as const),
      at: fc.nat(),
      with: fc.constantFrom(...BASE64URL, '.', '=', ' ', '\u00e9'),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: editText }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(),
      count: fc.integer({ min: 1, max: 8 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('append' as const), text: editText }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('swap-parts' as const), a: fc.nat(), b: fc.nat() }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('drop-part' as const), at: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('duplicate-part' as const), at: fc.nat() }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('flip-case' as const), at: fc.nat() }), weight: 2 },
);

/** Applies `e` to `s` (positions taken modulo the length; parts are the `.`-separated fields). */
export function applyEdit(s: string, e: Edit): string {
  const at = (n: number, length: number): number => (length === 0 ? 0 : n % length);
  const parts = s.split('.');
  switch (e.kind) {
    case 'replace': {
      const i = at(e.at, s.length);
      return s.slice(0, i) + e.with + s.slice(i + 1);
    }
    case 'insert': {
      const i = at(e.at, s.length + 1);
      return s.slice(0, i) + e.text + s.slice(i);
    }
    case 'delete': {
      const i = at(e.at, s.length);
      return s.slice(0, i) + s.slice(i + e.count);
    }
    case 'truncate':
      return s.slice(0, at(e.at, s.length));
    case 'append':
      return s + e.text;
    case 'swap-parts': {
      const a = at(e.a, parts.length);
      const b = at(e.b, parts.length);
      const swapped = [...parts];
      [swapped[a], swapped[b]] = [parts[b] as string, parts[a] as string];
      return swapped.join('.');
    }
    case 'drop-part':
      return parts.filter((_, i) => i !== at(e.at, parts.length)).join('.');
    case 'duplicate-part': {
      const i = at(e.at, parts.length);
      return [...parts.slice(0, i + 1), ...parts.slice(i)].join('.');
    }
    case 'flip-case': {
      const i = at(e.at, s.length);
      const c = s.charAt(i);
      const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
      return s.slice(0, i) + flipped + s.slice(i + 1);
    }
  }
}

/** One to three edits that, together, change the string. */
export function edited(s: string): fc.Arbitrary<string> {
  return fc
    .array(edit, { minLength: 1, maxLength: 3 })
    .map((edits) => edits.reduce(applyEdit, s))
    .filter((t) => t !== s);
}

/** A string whose UTF-16 is well formed (no lone surrogate), as JSON.stringify always produces. */
export function isWellFormed(s: string): boolean {
  return !/\p{Cs}/u.test(s);
}
