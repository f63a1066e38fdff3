import { AppError } from '../server/core/errors';
import { parseIdleTokenTimeout, type FieldError } from '../server/genesys/idle-token-timeout';

const SECONDS = 'must be an integer between 300 and 28800';
const BOOLEAN = 'must be true or false';
const UNIT = 'must be "Minutes" or "Hours"';
const PRIORITY = 'must be an integer between 1 and 5';
const GROUPS = 'must be a list of at most 1000 group ids';
const GROUP_ID = 'must be a group id (a string of 1 to 128 characters)';
const NOT_A_FIELD = 'is not a field of IdleTokenTimeout';
const NOT_A_BUNDLE_FIELD = 'is not a field of a group bundle';

const bundle = {
  priority: 1,
  timeoutSeconds: 600,
  inactivityTimeoutUnit: 'Minutes',
  groups: ['0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0'],
};

/** The 400 that parseIdleTokenTimeout throws for `body`, as the client would read it. */
function refusal(body: unknown): { status: number; detail: string; errors: FieldError[] } {
  try {
    parseIdleTokenTimeout(body);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return {
      status: err.status,
      detail: err.detail,
      errors: err.extensions.errors as FieldError[],
    };
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

describe('parseIdleTokenTimeout', () => {
  it('accepts a full IdleTokenTimeout with group bundles and returns it unchanged', () => {
    const body = {
      idleTokenTimeoutSeconds: 28800,
      enableIdleTokenTimeout: true,
      inactivityTimeoutUnit: 'Hours',
      inactivityTimeoutGroupsEnabled: true,
      inactivityTimeoutGroupBundles: [
        bundle,
        { priority: 5, timeoutSeconds: 300, groups: [] },
        { priority: 2, timeoutSeconds: 900, groups: ['g'.repeat(128)] },
      ],
    };
    expect(parseIdleTokenTimeout(body)).toEqual(body);
  });

  it('accepts an empty object (every field is optional) and the range bounds', () => {
    expect(parseIdleTokenTimeout({})).toEqual({});
    expect(parseIdleTokenTimeout({ idleTokenTimeoutSeconds: 300 })).toEqual({
      idleTokenTimeoutSeconds: 300,
    });
  });

  it.each<[string, unknown, FieldError[]]>([
    [
      'a timeout below 300 s',
      { idleTokenTimeoutSeconds: 299 },
      [{ field: 'idleTokenTimeoutSeconds', message: SECONDS }],
    ],
    [
      'a timeout above 28800 s',
      { idleTokenTimeoutSeconds: 28801 },
      [{ field: 'idleTokenTimeoutSeconds', message: SECONDS }],
    ],
    [
      'a fractional timeout',
      { idleTokenTimeoutSeconds: 3.5 },
      [{ field: 'idleTokenTimeoutSeconds', message: SECONDS }],
    ],
    [
      'a timeout as a string',
      { idleTokenTimeoutSeconds: '600' },
      [{ field: 'idleTokenTimeoutSeconds', message: SECONDS }],
    ],
    [
      'null for a field (leave it out instead)',
      { idleTokenTimeoutSeconds: null },
      [{ field: 'idleTokenTimeoutSeconds', message: SECONDS }],
    ],
    [
      '"yes" for a boolean',
      { enableIdleTokenTimeout: 'yes' },
      [{ field: 'enableIdleTokenTimeout', message: BOOLEAN }],
    ],
    [
      '1 for a boolean',
      { inactivityTimeoutGroupsEnabled: 1 },
      [{ field: 'inactivityTimeoutGroupsEnabled', message: BOOLEAN }],
    ],
    [
      'a unit outside the enum',
      { inactivityTimeoutUnit: 'Days' },
      [{ field: 'inactivityTimeoutUnit', message: UNIT }],
    ],
    [
      'an enum value in the wrong case',
      { inactivityTimeoutUnit: 'minutes' },
      [{ field: 'inactivityTimeoutUnit', message: UNIT }],
    ],
    [
      'bundles that are not a list',
      { inactivityTimeoutGroupBundles: bundle },
      [
        {
          field: 'inactivityTimeoutGroupBundles',
          message: 'must be a list of at most 5 group bundles',
        },
      ],
    ],
    [
      'six bundles',
      { inactivityTimeoutGroupBundles: Array.from({ length: 6 }, () => bundle) },
      [
        {
          field: 'inactivityTimeoutGroupBundles',
          message: 'must be a list of at most 5 group bundles',
        },
      ],
    ],
    [
      'a bundle that is not an object',
      { inactivityTimeoutGroupBundles: ['x'] },
      [
        {
          field: 'inactivityTimeoutGroupBundles[0]',
          message: 'must be an object {priority, timeoutSeconds, inactivityTimeoutUnit, groups}',
        },
      ],
    ],
    [
      'bundle priority 0',
      { inactivityTimeoutGroupBundles: [{ ...bundle, priority: 0 }] },
      [{ field: 'inactivityTimeoutGroupBundles[0].priority', message: PRIORITY }],
    ],
    [
      'bundle priority 6',
      { inactivityTimeoutGroupBundles: [bundle, { ...bundle, priority: 6 }] },
      [{ field: 'inactivityTimeoutGroupBundles[1].priority', message: PRIORITY }],
    ],
    [
      'bundle timeout 100 s',
      { inactivityTimeoutGroupBundles: [{ ...bundle, timeoutSeconds: 100 }] },
      [{ field: 'inactivityTimeoutGroupBundles[0].timeoutSeconds', message: SECONDS }],
    ],
    [
      'bundle unit outside the enum',
      { inactivityTimeoutGroupBundles: [{ ...bundle, inactivityTimeoutUnit: 'Days' }] },
      [{ field: 'inactivityTimeoutGroupBundles[0].inactivityTimeoutUnit', message: UNIT }],
    ],
    [
      'bundle groups not a list',
      { inactivityTimeoutGroupBundles: [{ ...bundle, groups: 'g1' }] },
      [{ field: 'inactivityTimeoutGroupBundles[0].groups', message: GROUPS }],
    ],
    [
      'bundle groups holding a number',
      { inactivityTimeoutGroupBundles: [{ ...bundle, groups: ['g1', 7] }] },
      [{ field: 'inactivityTimeoutGroupBundles[0].groups[1]', message: GROUP_ID }],
    ],
    [
      'an empty group id',
      { inactivityTimeoutGroupBundles: [{ ...bundle, groups: [''] }] },
      [{ field: 'inactivityTimeoutGroupBundles[0].groups[0]', message: GROUP_ID }],
    ],
    [
      'a bundle without its required fields',
      { inactivityTimeoutGroupBundles: [{}] },
      [
        { field: 'inactivityTimeoutGroupBundles[0].priority', message: 'is required' },
        { field: 'inactivityTimeoutGroupBundles[0].timeoutSeconds', message: 'is required' },
        { field: 'inactivityTimeoutGroupBundles[0].groups', message: 'is required' },
      ],
    ],
    [
      'an unknown bundle field',
      { inactivityTimeoutGroupBundles: [{ ...bundle, weight: 1 }] },
      [{ field: 'inactivityTimeoutGroupBundles[0].weight', message: NOT_A_BUNDLE_FIELD }],
    ],
    [
      'an unknown top-level field',
      { idleTokenTimeoutSeconds: 600, timeoutMinutes: 10 },
      [{ field: 'timeoutMinutes', message: NOT_A_FIELD }],
    ],
    [
      'an array body',
      [],
      [{ field: '(body)', message: 'must be a JSON object (IdleTokenTimeout)' }],
    ],
    [
      'a null body',
      null,
      [{ field: '(body)', message: 'must be a JSON object (IdleTokenTimeout)' }],
    ],
    [
      'a string body',
      'x',
      [{ field: '(body)', message: 'must be a JSON object (IdleTokenTimeout)' }],
    ],
    ['no body at all', undefined, [{ field: '(body)', message: 'is required' }]],
  ])('refuses %s, naming the field', (_case, body, expected) => {
    const { status, detail, errors } = refusal(body);
    expect(status).toBe(400);
    expect(errors).toEqual(expected);
    for (const { field, message } of expected) {
      expect(detail).toContain(`${field === '(body)' ? 'the request body' : field} ${message}`);
    }
  });

  it('names every bad field at once, in body order', () => {
    const { detail, errors } = refusal({
      idleTokenTimeoutSeconds: 299,
      enableIdleTokenTimeout: 'yes',
      inactivityTimeoutUnit: 'Days',
      inactivityTimeoutGroupBundles: [{ ...bundle, priority: 0, groups: [1] }],
      extra: true,
    });
    expect(errors).toEqual([
      { field: 'idleTokenTimeoutSeconds', message: SECONDS },
      { field: 'enableIdleTokenTimeout', message: BOOLEAN },
      { field: 'inactivityTimeoutUnit', message: UNIT },
      { field: 'inactivityTimeoutGroupBundles[0].priority', message: PRIORITY },
      { field: 'inactivityTimeoutGroupBundles[0].groups[0]', message: GROUP_ID },
      { field: 'extra', message: NOT_A_FIELD },
    ]);
    expect(detail).toBe(
      `Invalid IdleTokenTimeout: idleTokenTimeoutSeconds ${SECONDS}; enableIdleTokenTimeout ${BOOLEAN}; ` +
        `inactivityTimeoutUnit ${UNIT}; inactivityTimeoutGroupBundles[0].priority ${PRIORITY}; ` +
        `inactivityTimeoutGroupBundles[0].groups[0] ${GROUP_ID}; extra ${NOT_A_FIELD}.`,
    );
  });

  it('attack: refuses __proto__ and constructor keys as unknown fields and pollutes nothing', () => {
    const proto = refusal(JSON.parse('{"__proto__":{"polluted":1},"idleTokenTimeoutSeconds":600}'));
    expect(proto.errors).toEqual([{ field: '__proto__', message: NOT_A_FIELD }]);
    const ctor = refusal(JSON.parse('{"constructor":{"prototype":{"polluted":1}}}'));
    expect(ctor.errors).toEqual([{ field: 'constructor', message: NOT_A_FIELD }]);
    const nested = refusal(
      JSON.parse('{"inactivityTimeoutGroupBundles":[{"__proto__":{"polluted":1}}]}'),
    );
    expect(nested.errors).toContainEqual({
      field: 'inactivityTimeoutGroupBundles[0].__proto__',
      message: NOT_A_BUNDLE_FIELD,
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns a fresh object holding only model fields', () => {
    const input = { idleTokenTimeoutSeconds: 600 };
    const parsed = parseIdleTokenTimeout(input);
    expect(parsed).not.toBe(input);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });
});

describe('unknown fields in a hostile body', () => {
  it('names at most 5 of them, each cut to 64 characters, and counts the rest', () => {
    const body: Record<string, unknown> = { enableIdleTokenTimeout: true };
    for (let i = 0; i < 400; i += 1) body[`${'k'.repeat(30)}${i}`] = 1;
    body['x'.repeat(5000)] = 1;
    let caught: unknown;
    try {
      parseIdleTokenTimeout(body);
    } catch (err) {
      caught = err;
    }
    const problem = caught as AppError;
    expect(problem).toBeInstanceOf(AppError);
    expect(problem.status).toBe(400);
    expect(problem.detail.length).toBeLessThan(1000);
    expect(JSON.stringify(problem.extensions).length).toBeLessThan(1000);
    expect(problem.detail).toMatch(/396 more fields/);
  });
});
