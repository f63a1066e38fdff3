import http from 'node:http';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  MAX_TRACESTATE_LENGTH,
  TRACE_RANDOM_BYTES,
  nextTraceparent,
  parseTraceparent,
  parseTracestate,
  traceContextFrom,
} from '../server/core/trace-context';
import { hostileString, RUNS } from './properties/arbitraries';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const OUTGOING = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const HEX = '0123456789abcdef';

function random(): Buffer {
  return randomBytes(TRACE_RANDOM_BYTES);
}

function parentIdOf(traceparent: string): string {
  return traceparent.split('-')[2] as string;
}

/**
 * The spec's rule (W3C Trace Context level 1, "traceparent header" and "versioning of
 * traceparent"), written out position by position, without the parser's regex.
 */
function isValidTraceparent(value: string): boolean {
  const isHex = (s: string): boolean => [...s].every((c) => HEX.includes(c));
  const isZero = (s: string): boolean => [...s].every((c) => c === '0');
  if (value.length < 55) return false;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return false;
  const [version, traceId, parentId, flags] = [
    value.slice(0, 2),
    value.slice(3, 35),
    value.slice(36, 52),
    value.slice(53, 55),
  ];
  if (![version, traceId, parentId, flags].every(isHex)) return false;
  if (version === 'ff' || isZero(traceId) || isZero(parentId)) return false;
  if (version === '00') return value.length === 55;
  return value.length === 55 || value[55] === '-';
}

function isHeaderSafe(name: string, value: string): boolean {
  try {
    http.validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

describe('parseTraceparent', () => {
  it('reads the trace id, parent-id and flags of a valid version 00 value', () => {
    expect(parseTraceparent(VALID)).toEqual({
      traceId: TRACE_ID,
      parentId: '00f067aa0ba902b7',
      flags: '01',
    });
  });

  it('keeps the flags of a version 00 value as they came, unknown bits included', () => {
    for (const flags of ['00', '01', '02', '03', 'ff']) {
      expect(parseTraceparent(`00-${TRACE_ID}-00f067aa0ba902b7-${flags}`)?.flags).toBe(flags);
    }
  });

  it.each([
    ['version ff', `ff-${TRACE_ID}-00f067aa0ba902b7-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero parent-id', `00-${TRACE_ID}-0000000000000000-01`],
    ['an uppercase trace id', `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`],
    ['an uppercase parent-id', `00-${TRACE_ID}-00F067AA0BA902B7-01`],
    ['uppercase flags', `00-${TRACE_ID}-00f067aa0ba902b7-0A`],
    ['an uppercase version', `0A-${TRACE_ID}-00f067aa0ba902b7-01`],
    ['a non-hex character', `00-${TRACE_ID.slice(0, 31)}g-00f067aa0ba902b7-01`],
    ['a short trace id', `00-${TRACE_ID.slice(1)}-00f067aa0ba902b7-01`],
    ['a long trace id', `00-${TRACE_ID}a-00f067aa0ba902b7-01`],
    ['a short parent-id', `00-${TRACE_ID}-00f067aa0ba902b-01`],
    ['a long parent-id', `00-${TRACE_ID}-00f067aa0ba902b70-01`],
    ['one-digit flags', `00-${TRACE_ID}-00f067aa0ba902b7-1`],
    ['three-digit flags', `00-${TRACE_ID}-00f067aa0ba902b7-011`],
    ['version 00 with a field more', `${VALID}-what`],
    ['version 00 with a trailing dash', `${VALID}-`],
    ['another delimiter', VALID.replaceAll('-', '_')],
    ['surrounding whitespace', ` ${VALID} `],
    ['two values joined as Node joins a repeated header', `${VALID}, ${VALID}`],
    ['the empty string', ''],
  ])('ignores %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('ignores no header at all', () => {
    expect(parseTraceparent(undefined)).toBeUndefined();
  });

  it('reads a later version by its version 00 prefix, keeping only the sampled flag', () => {
    expect(parseTraceparent(`01-${TRACE_ID}-00f067aa0ba902b7-01`)?.flags).toBe('01');
    expect(parseTraceparent(`cc-${TRACE_ID}-00f067aa0ba902b7-09-what-the-future-holds`)).toEqual({
      traceId: TRACE_ID,
      parentId: '00f067aa0ba902b7',
      flags: '01',
    });
    expect(parseTraceparent(`fe-${TRACE_ID}-00f067aa0ba902b7-02-x`)?.flags).toBe('00');
  });

  it('ignores a later version whose flags run on without a dash', () => {
    expect(parseTraceparent(`01-${TRACE_ID}-00f067aa0ba902b7-01x`)).toBeUndefined();
    expect(parseTraceparent(`01-${TRACE_ID}-00f067aa0ba902b7-010`)).toBeUndefined();
  });
});

describe('parseTracestate', () => {
  it('passes a valid list on as it came', () => {
    expect(parseTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toBe(
      'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    );
  });

  it('drops optional whitespace and empty members', () => {
    expect(parseTracestate(' rojo=1 ,\t, congo=2\t,,')).toBe('rojo=1,congo=2');
    expect(parseTracestate(' , ,')).toBeUndefined();
    expect(parseTracestate('')).toBeUndefined();
  });

  it('keeps multi-tenant keys and a value with inner spaces and punctuation', () => {
    expect(parseTracestate('fw529a3039@dt=FIjk, 1tenant@sys-1=a b:c;d')).toBe(
      'fw529a3039@dt=FIjk,1tenant@sys-1=a b:c;d',
    );
  });

  it.each([
    ['an uppercase key', 'Rojo=1'],
    ['a key starting with a digit without a tenant', '1rojo=1'],
    ['a member without =', 'rojo'],
    ['an empty value', 'rojo='],
    ['a value holding =', 'rojo=a=b'],
    ['a value holding a tab', 'rojo=a\tb'],
    ['a value holding a newline', 'rojo=a\nb'],
    ['a value holding CR LF and a header', 'rojo=a\r\nx-injected: 1'],
    ['a value holding a NUL', 'rojo=a\u0000'],
    ['a non-ASCII value', 'rojo=caf\u00e9'],
    ['a key twice', 'rojo=1,congo=2,rojo=3'],
    ['a system id over 14 characters', 'tenant@abcdefghijklmno=1'],
    ['33 members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
  ])('drops a whole list with %s', (_name, value) => {
    expect(parseTracestate(value)).toBeUndefined();
  });

  it('keeps 32 members', () => {
    const list = Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',');
    expect(parseTracestate(list)).toBe(list);
  });

  it('cuts a list over 512 characters from its end, entries over 128 characters first', () => {
    const short = (i: number): string => `k${i}=${'v'.repeat(40)}`;
    const long = `long=${'x'.repeat(200)}`;
    const members = [
      short(0),
      long,
      short(1),
      short(2),
      ...Array.from({ length: 10 }, (_, i) => short(i + 3)),
    ];
    const kept = parseTracestate(members.join(',')) as string;
    expect(kept.length).toBeLessThanOrEqual(MAX_TRACESTATE_LENGTH);
    expect(kept).not.toContain('long=');
    expect(kept.startsWith(`${short(0)},${short(1)},${short(2)}`)).toBe(true);
    expect(members.join(',').startsWith(kept)).toBe(false);
    const withoutLong = members.filter((m) => m !== long).join(',');
    expect(withoutLong.startsWith(kept)).toBe(true);
  });
});

describe('traceContextFrom and nextTraceparent', () => {
  it('keeps a valid trace id, its flags and its tracestate', () => {
    const trace = traceContextFrom(VALID, 'congo=t61rcWkgMzE', random());
    expect(trace).toMatchObject({
      traceId: TRACE_ID,
      flags: '01',
      tracestate: 'congo=t61rcWkgMzE',
    });
    const sent = nextTraceparent(trace);
    expect(sent).toMatch(OUTGOING);
    expect(sent.startsWith(`00-${TRACE_ID}-`)).toBe(true);
    expect(sent.endsWith('-01')).toBe(true);
    // A parent-id of the gateway's own: the caller's names the caller's span, not this call.
    expect(parentIdOf(sent)).not.toBe('00f067aa0ba902b7');
  });

  it('starts a trace, not sampled, and drops the tracestate, for an invalid traceparent', () => {
    const bytes = random();
    const trace = traceContextFrom(VALID.toUpperCase(), 'congo=t61rcWkgMzE', bytes);
    expect(trace.traceId).toBe(bytes.toString('hex', 0, 16));
    expect(trace.flags).toBe('00');
    expect(trace.tracestate).toBeUndefined();
  });

  it('downgrades a later version to 00 on the way out', () => {
    const trace = traceContextFrom(`01-${TRACE_ID}-00f067aa0ba902b7-03-extra`, undefined, random());
    expect(nextTraceparent(trace)).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
  });

  it('never starts a trace with an all-zero id, nor hands out an all-zero parent-id', () => {
    const trace = traceContextFrom(undefined, undefined, Buffer.alloc(TRACE_RANDOM_BYTES));
    expect(trace.traceId).not.toBe('0'.repeat(32));
    const first = nextTraceparent(trace);
    expect(first).toMatch(OUTGOING);
    expect(parseTraceparent(first)).toBeDefined();
  });

  it('counts parent-ids on past the top of their low half', () => {
    const bytes = random();
    bytes.writeUInt32BE(0xffffffff, 20);
    const trace = traceContextFrom(VALID, undefined, bytes);
    const ids = [nextTraceparent(trace), nextTraceparent(trace)].map(parentIdOf);
    expect(ids[0]?.endsWith('ffffffff')).toBe(true);
    expect(ids[1]?.endsWith('00000000')).toBe(true);
    expect(ids[0]?.slice(0, 8)).toBe(ids[1]?.slice(0, 8));
  });
});

const hex = (length: number): fc.Arbitrary<string> =>
  fc.stringOf(fc.constantFrom(...HEX), { minLength: length, maxLength: length });
/** Hex fields of the right length mostly, else all zeros, uppercase, other characters or lengths. */
const nearHex = (length: number): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: hex(length), weight: 6 },
    { arbitrary: fc.constant('0'.repeat(length)), weight: 1 },
    {
      arbitrary: fc.stringOf(fc.constantFrom(...HEX, 'A', 'F', 'g', 'z', ' ', '-', '\u00e9'), {
        minLength: length - 1,
        maxLength: length + 1,
      }),
      weight: 2,
    },
  );
/** Values shaped like a traceparent, spoiled in one place or another now and then. */
const traceparentLike: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fc.constantFrom('00', '00', '00', '01', 'cc', 'fe', 'ff', '0A', '0'), hex(2)),
    nearHex(32),
    nearHex(16),
    fc.oneof({ arbitrary: hex(2), weight: 5 }, fc.constantFrom('0', '001', 'FF')),
    fc.constantFrom('', '', '', '-', '-x', 'x', '-00-more', ', 00-a'),
    fc.constantFrom('-', '-', '-', '_'),
  )
  .map(([v, t, p, f, tail, dash]) => `${v}${dash}${t}-${p}-${f}${tail}`);
const traceparentInput = fc.oneof(
  { arbitrary: traceparentLike, weight: 3 },
  { arbitrary: hostileString, weight: 1 },
);

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
const key: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
      fc.stringOf(fc.constantFrom(...KEY_CHARS), { maxLength: 12 }),
    )
    .map(([a, b]) => a + b),
  fc
    .tuple(
      fc
        .stringOf(fc.constantFrom(...KEY_CHARS), { minLength: 1, maxLength: 8 })
        .filter((t) => /^[a-z0-9]/.test(t)),
      fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
      fc.stringOf(fc.constantFrom(...KEY_CHARS), { maxLength: 13 }),
    )
    .map(([tenant, s, ystem]) => `${tenant}@${s}${ystem}`),
);
const VALUE_CHARS = Array.from({ length: 0x7f - 0x20 }, (_, i) =>
  String.fromCharCode(0x20 + i),
).filter((c) => c !== ',' && c !== '=');
const value: fc.Arbitrary<string> = fc
  .tuple(
    fc.stringOf(fc.constantFrom(...VALUE_CHARS), { maxLength: 40 }),
    fc.constantFrom(...VALUE_CHARS.filter((c) => c !== ' ')),
    fc.constantFrom(0, 0, 0, 150),
  )
  .map(([body, last, pad]) => `${body}${'p'.repeat(pad)}${last}`);
/** Valid lists: up to 32 members with keys of their own, joined with or without optional spaces. */
const validTracestate: fc.Arbitrary<{ members: string[]; text: string }> = fc
  .tuple(
    fc.uniqueArray(fc.tuple(key, value), { maxLength: 32, selector: ([k]) => k }),
    fc.constantFrom(',', ', ', ' ,\t'),
  )
  .map(([pairs, separator]) => {
    const members = pairs.map(([k, v]) => `${k}=${v}`);
    return { members, text: members.join(separator) };
  });

describe('trace context (property)', () => {
  it('a traceparent is adopted exactly when the spec calls it valid', () => {
    fc.assert(
      fc.property(traceparentInput, (input) => {
        const parsed = parseTraceparent(input);
        expect(parsed !== undefined).toBe(isValidTraceparent(input));
        if (parsed !== undefined) {
          expect(parsed.traceId).toBe(input.slice(3, 35));
          expect(parsed.parentId).toBe(input.slice(36, 52));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('what goes upstream is always a valid version 00 traceparent, on the caller trace only when it was valid', () => {
    fc.assert(
      fc.property(
        fc.option(traceparentInput, { nil: undefined }),
        fc.option(hostileString, { nil: undefined }),
        (incoming, state) => {
          const bytes = random();
          const trace = traceContextFrom(incoming, state, bytes);
          const sent = nextTraceparent(trace);
          expect(sent).toMatch(OUTGOING);
          expect(isValidTraceparent(sent)).toBe(true);
          const valid = incoming !== undefined && isValidTraceparent(incoming);
          expect(trace.traceId).toBe(valid ? incoming.slice(3, 35) : bytes.toString('hex', 0, 16));
          if (!valid) expect(trace.tracestate).toBeUndefined();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('every call of a request gets its own parent-id under the same trace id and flags', () => {
    fc.assert(
      fc.property(
        fc.option(traceparentLike, { nil: undefined }),
        fc.integer({ min: 2, max: 40 }),
        (incoming, calls) => {
          const trace = traceContextFrom(incoming, undefined, random());
          const sent = Array.from({ length: calls }, () => nextTraceparent(trace));
          expect(new Set(sent.map(parentIdOf)).size).toBe(calls);
          // One expect per run, not per call: jest's matchers cost more than the rest of it.
          const wrong = sent.filter(
            (value) =>
              !value.startsWith(`00-${trace.traceId}-`) ||
              !value.endsWith(`-${trace.flags}`) ||
              parentIdOf(value) === '0'.repeat(16),
          );
          expect(wrong).toEqual([]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('any tracestate passed on is printable ASCII, at most 512 characters, header-safe and stable', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          hostileString,
          validTracestate.map((v) => v.text),
        ),
        (input) => {
          const kept = parseTracestate(input);
          if (kept === undefined) return;
          expect(kept.length).toBeLessThanOrEqual(MAX_TRACESTATE_LENGTH);
          expect(kept).toMatch(/^[\x20-\x7e]+$/);
          expect(isHeaderSafe('tracestate', kept)).toBe(true);
          expect(parseTracestate(kept)).toBe(kept);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a valid tracestate keeps its members in order, cut only from the end past 512 characters', () => {
    fc.assert(
      fc.property(validTracestate, ({ members, text }) => {
        const kept = parseTracestate(text);
        const joined = members.join(',');
        if (joined.length <= MAX_TRACESTATE_LENGTH) {
          expect(kept).toBe(members.length === 0 ? undefined : joined);
          return;
        }
        const survivors = (kept ?? '').split(',').filter(Boolean);
        // An ordered subsequence of the members, none of the long ones dropped before a short one.
        let at = 0;
        for (const member of survivors) {
          at = members.indexOf(member, at) + 1;
          expect(at).toBeGreaterThan(0);
        }
        const longKept = survivors.some((m) => m.length > 128);
        const shortDropped = members.some((m) => m.length <= 128 && !survivors.includes(m));
        expect(longKept && shortDropped).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});
