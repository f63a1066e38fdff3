import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import fc from 'fast-check';
import { BadRequestError } from '../../server/core/errors';
import { parseIdleTokenTimeout, type FieldError } from '../../server/genesys/idle-token-timeout';
import { anyInput, hostileString, RUNS } from './arbitraries';

// The Genesys models, as vendored for the emulator's schema test.
const spec = JSON.parse(
  readFileSync(path.resolve(__dirname, '../../emulator/tokens-openapi.json'), 'utf8'),
) as { definitions: Record<string, unknown> };

/** Swagger 2.0 models allow unknown fields; the gateway does not (docs/contract.md#routes: no unknown fields). */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === 'properties'
        ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, closed(v)]))
        : closed(value);
  }
  if ('properties' in out && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addFormat('int32', { type: 'number', validate: (n: number) => n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addSchema({ $id: 'genesys', definitions: closed(spec.definitions) });
const matchesModel = ajv.getSchema('genesys#/definitions/IdleTokenTimeout');
if (!matchesModel) throw new Error('no IdleTokenTimeout model in tokens-openapi.json');

// From the model's descriptions and genesys/README.md, not from the code under test.
const MIN_TIMEOUT_SECONDS = 300;
const MAX_TIMEOUT_SECONDS = 28_800;

/**
 * The ranges the model only states in its descriptions (and genesys/README.md), which the
 * gateway enforces as well: seconds 300–28800, priority 1–5, bounded lists, group ids 1–128.
 */
function withinDocumentedRanges(body: Record<string, unknown>): boolean {
  const seconds = (n: unknown): boolean =>
    typeof n === 'number' && n >= MIN_TIMEOUT_SECONDS && n <= MAX_TIMEOUT_SECONDS;
  if ('idleTokenTimeoutSeconds' in body && !seconds(body.idleTokenTimeoutSeconds)) return false;
  const bundles = body.inactivityTimeoutGroupBundles as Record<string, unknown>[] | undefined;
  if (bundles === undefined) return true;
  return (
    bundles.length <= 5 &&
    bundles.every((b) => {
      const groups = b.groups as string[];
      return (
        (b.priority as number) >= 1 &&
        (b.priority as number) <= 5 &&
        seconds(b.timeoutSeconds) &&
        groups.length <= 1000 &&
        // Characters are code points (zod counts them so): 128 astral ones are 256 UTF-16 units.
        groups.every((g) => [...g].length >= 1 && [...g].length <= 128)
      );
    })
  );
}

/** A JSON document as text, so bodies can hold what object literals cannot: an own __proto__. */
type Json = string;
const text = (v: unknown): Json => JSON.stringify(v);
const object = (entries: readonly (readonly [string, Json])[]): Json =>
  `{${entries.map(([k, v]) => `${text(k)}:${v}`).join(',')}}`;
const array = (items: readonly Json[]): Json => `[${items.join(',')}]`;

/** Numbers as JSON spells them: bounds, off-by-ones, floats, exponents, -0, huge, overflow. */
const numberText = fc.oneof(
  fc.constantFrom(
    '299',
    '300',
    '301',
    '600',
    '28799',
    '28800',
    '28801',
    '0',
    '-0',
    '-1',
    '-300',
    '1',
    '5',
    '6',
    '300.0',
    '300.5',
    '3e2',
    '2.88e4',
    '2.88001e4',
    '2147483647',
    '2147483648',
    '9007199254740993',
    '1e308',
    '1e400',
    '-1e400',
    '5e-324',
  ),
  fc.integer({ min: -100_000, max: 100_000 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
);
const stringText = fc
  .oneof(
    fc.constantFrom('Minutes', 'Hours', 'minutes', 'HOURS', 'Hours ', '600', 'true', '', 'null'),
    hostileString.map((s) => s.slice(0, 200)),
  )
  .map(text);
const scalarText = fc.oneof(numberText, stringText, fc.constantFrom('true', 'false', 'null'));
const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
];
const junkKey = fc.oneof(
  fc.constantFrom(
    ...PROTO_KEYS,
    'idleTokenTimeoutseconds',
    'IdleTokenTimeoutSeconds',
    'groups',
    '',
  ),
  hostileString.map((s) => s.slice(0, 40)),
);
const junkText: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarText,
    fc.array(tie('value'), { maxLength: 4 }).map(array),
    fc.array(fc.tuple(junkKey, tie('value')), { maxLength: 4 }).map(object),
  ),
})).value;

/**
 * A field's value: mostly valid, so that whole bodies often pass, and sometimes a near miss or
 * junk, so that one bad leaf among many valid ones must still be found.
 */
function leaf(valid: fc.Arbitrary<Json>, invalid: fc.Arbitrary<Json>): fc.Arbitrary<Json> {
  return fc.oneof(
    { arbitrary: valid, weight: 30 },
    { arbitrary: invalid, weight: 3 },
    { arbitrary: junkText, weight: 1 },
  );
}
const secondsText = leaf(
  fc.oneof(
    fc.integer({ min: MIN_TIMEOUT_SECONDS, max: MAX_TIMEOUT_SECONDS }).map(String),
    fc.constantFrom('300', '28800', '3e2', '300.0', '2.88e4'),
  ),
  // Off by one (or by a fraction) at either bound, or any number at all.
  fc.oneof(fc.constantFrom('299', '28801', '299.9', '28800.5', '2.88001e4'), numberText),
);
const booleanText = leaf(
  fc.constantFrom('true', 'false'),
  fc.constantFrom('"true"', '"false"', '0', '1', 'null', '[]', '{}', '[true]'),
);
const unitText = leaf(fc.constantFrom('"Minutes"', '"Hours"'), stringText);
const priorityText = leaf(
  fc.integer({ min: 1, max: 5 }).map(String),
  fc.oneof(fc.constantFrom('0', '6', '1.5', '-1'), numberText),
);
const groupIdText = leaf(
  fc.oneof(
    fc.uuid().map(text),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 128 }).map(text),
  ),
  fc.oneof(
    fc.constant('""'),
    fc
      .tuple(fc.integer({ min: 125, max: 131 }), fc.constantFrom('g', '\u00e9', '\u{1d4b3}'))
      .map(([n, c]) => text(c.repeat(n))),
  ),
);
const groupsText = leaf(
  fc.array(groupIdText, { maxLength: 4 }).map(array),
  // Around the 1,000-group cap.
  fc
    .integer({ min: 998, max: 1002 })
    .map((n) => array(Array.from({ length: n }, (_, i) => text(`g${i}`)))),
);

/** Picks some of `fields` (each present `presentIn10` times in 10) and maybe a junk key, shuffled. */
function modelShaped(
  fields: Record<string, fc.Arbitrary<Json>>,
  presentIn10: number,
): fc.Arbitrary<Json> {
  const picks = Object.entries(fields).map(([name, value]) =>
    fc.oneof(
      { arbitrary: value.map((v) => [name, v] as const), weight: presentIn10 },
      { arbitrary: fc.constant(undefined), weight: 10 - presentIn10 },
    ),
  );
  // Mostly none: one unknown key refuses the whole body.
  const junk = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 15 },
    { arbitrary: fc.tuple(junkKey, junkText), weight: 1 },
  );
  return fc
    .tuple(fc.tuple(...picks), junk)
    .chain(([chosen, extra]) => {
      const entries = [...chosen, extra].filter(
        (e): e is readonly [string, Json] => e !== undefined,
      );
      return fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length });
    })
    .map(object);
}

// Required bundle fields are left out now and then (9 in 10 present).
const bundleText = leaf(
  modelShaped(
    {
      priority: priorityText,
      timeoutSeconds: secondsText,
      inactivityTimeoutUnit: unitText,
      groups: groupsText,
    },
    9,
  ),
  fc.constantFrom('{}', '[]', 'null', '"bundle"'),
);
const bundlesText = leaf(
  fc.array(bundleText, { minLength: 1, maxLength: 3 }).map(array),
  fc.oneof(fc.constant('[]'), fc.array(bundleText, { minLength: 4, maxLength: 7 }).map(array)),
);
const bodyText = fc.oneof(
  {
    arbitrary: modelShaped(
      {
        idleTokenTimeoutSeconds: secondsText,
        enableIdleTokenTimeout: booleanText,
        inactivityTimeoutUnit: unitText,
        inactivityTimeoutGroupsEnabled: booleanText,
        inactivityTimeoutGroupBundles: bundlesText,
      },
      6,
    ),
    weight: 8,
  },
  { arbitrary: junkText, weight: 1 },
);

function attempt(body: unknown): { ok: unknown } | { error: unknown } {
  try {
    return { ok: parseIdleTokenTimeout(body) };
  } catch (error) {
    return { error };
  }
}

describe('parseIdleTokenTimeout (property)', () => {
  it('a body is accepted exactly when it matches the IdleTokenTimeout model (ajv) and its documented ranges', () => {
    fc.assert(
      fc.property(bodyText, (json) => {
        const body: unknown = JSON.parse(json);
        const expected =
          matchesModel(body) && withinDocumentedRanges(body as Record<string, unknown>);
        const result = attempt(body);
        expect({ json, accepted: 'ok' in result }).toEqual({ json, accepted: expected });
      }),
      { numRuns: RUNS },
    );
  });

  it('an accepted body comes back equal to what was sent, holding only model fields', () => {
    fc.assert(
      fc.property(bodyText, (json) => {
        const body: unknown = JSON.parse(json);
        const result = attempt(body);
        if (!('ok' in result)) return;
        expect(result.ok).toEqual(body);
        expect(matchesModel(result.ok)).toBe(true);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('a refused body is a 400 whose errors list is non-empty and names each field once in the detail', () => {
    fc.assert(
      fc.property(bodyText, (json) => {
        const result = attempt(JSON.parse(json));
        if (!('error' in result)) return;
        const err = result.error;
        expect(err).toBeInstanceOf(BadRequestError);
        const { status, detail, extensions } = err as BadRequestError;
        expect(status).toBe(400);
        const errors = extensions.errors as FieldError[];
        expect(Array.isArray(errors) && errors.length > 0).toBe(true);
        const seen = new Set<string>();
        for (const e of errors) {
          expect(typeof e.field === 'string' && e.field.length > 0).toBe(true);
          expect(typeof e.message === 'string' && e.message.length > 0).toBe(true);
          expect(seen.has(`${e.field}\u0000${e.message}`)).toBe(false);
          seen.add(`${e.field}\u0000${e.message}`);
          expect(detail).toContain(e.field === '(body)' ? 'the request body' : e.field);
        }
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('any input at all is accepted or refused with a 400, never another error, and pollutes no prototype', () => {
    const input = fc.oneof(
      bodyText.map((json) => JSON.parse(json) as unknown),
      anyInput,
    );
    fc.assert(
      fc.property(input, (body) => {
        const result = attempt(body);
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(BadRequestError);
          expect((result.error as BadRequestError).status).toBe(400);
        }
        expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_NAMES);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: RUNS / 2 },
    );
  });
});

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort();
