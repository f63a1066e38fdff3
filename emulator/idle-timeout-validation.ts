import type { ErrorBody } from './error-body';
import type { IdleTokenTimeout, InactivityTimeoutGroupBundle } from './types';

export interface ValidationFailure {
  code: string;
  message: string;
  details: ErrorBody['details'];
}

export type Validated = { ok: IdleTokenTimeout } | { fail: ValidationFailure };

const UNITS = ['Minutes', 'Hours'];
const MIN_SECONDS = 300;
const MAX_SECONDS = 28_800;
const MAX_SECONDS_HIPAA = 900;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(code: string, message: string, fieldName: string): { fail: ValidationFailure } {
  return { fail: { code, message, details: [{ errorCode: code, fieldName }] } };
}

function invalidValue(value: unknown, field: string, allowed: string): { fail: ValidationFailure } {
  return fail(
    'invalid.value',
    `Value [${JSON.stringify(value)}] is not valid for field type [${field}]. Allowable values are: ${allowed}`,
    field,
  );
}

function unknownProperty(key: string, model: string): { fail: ValidationFailure } {
  return fail(
    'invalid.property',
    `Value [${key}] is not a valid property for object [${model}]`,
    key,
  );
}

function validateBundle(
  value: unknown,
  index: number,
): { ok: InactivityTimeoutGroupBundle } | { fail: ValidationFailure } {
  const field = `inactivityTimeoutGroupBundles[${index}]`;
  if (!isObject(value)) return invalidValue(value, field, 'InactivityTimeoutGroupBundle');
  for (const key of Object.keys(value)) {
    if (!['priority', 'timeoutSeconds', 'inactivityTimeoutUnit', 'groups'].includes(key)) {
      return unknownProperty(key, 'InactivityTimeoutGroupBundle');
    }
  }
  const { priority, timeoutSeconds, inactivityTimeoutUnit, groups } = value;
  if (!Number.isInteger(priority) || (priority as number) < 1 || (priority as number) > 5) {
    return fail(
      'constraint.validation',
      `${field}.priority must be an integer 1-5`,
      `${field}.priority`,
    );
  }
  const seconds = timeoutSeconds as number;
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    return fail(
      'constraint.validation',
      `${field}.timeoutSeconds must be an integer ${MIN_SECONDS}-${MAX_SECONDS}`,
      `${field}.timeoutSeconds`,
    );
  }
  if (inactivityTimeoutUnit != null && !UNITS.includes(inactivityTimeoutUnit as string)) {
    return invalidValue(inactivityTimeoutUnit, `${field}.inactivityTimeoutUnit`, UNITS.join(', '));
  }
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) {
    return fail(
      'constraint.validation',
      `${field}.groups must be a list of group ids`,
      `${field}.groups`,
    );
  }
  return {
    ok: {
      priority: priority as number,
      timeoutSeconds: seconds,
      ...(inactivityTimeoutUnit != null
        ? { inactivityTimeoutUnit: inactivityTimeoutUnit as 'Minutes' | 'Hours' }
        : {}),
      groups,
    },
  };
}

/**
 * Checks a PUT /api/v2/tokens/timeout body the way Genesys does: unknown fields are refused
 * (invalid.property), types are checked, and the timeout must be 300–28800 s (900 for HIPAA).
 * null counts as absent, as with Jackson.
 */
export function validateIdleTimeout(body: unknown, hipaa: boolean): Validated {
  if (!isObject(body)) return invalidValue(body, 'body', 'IdleTokenTimeout');
  const out: IdleTokenTimeout = {};
  for (const [key, value] of Object.entries(body)) {
    if (value === null) continue;
    switch (key) {
      case 'idleTokenTimeoutSeconds': {
        if (typeof value !== 'number' || !Number.isInteger(value)) {
          return invalidValue(value, key, 'integer');
        }
        const max = hipaa ? MAX_SECONDS_HIPAA : MAX_SECONDS;
        if (value < MIN_SECONDS || value > max) {
          return hipaa
            ? fail(
                'token.timeout.exceeded.hipaa',
                'When HIPAA is enabled timeout must be between 300 and 900 seconds',
                key,
              )
            : fail(
                'token.timeout.exceeded',
                'When HIPAA is not enabled timeout must be between 300 and 28800 seconds',
                key,
              );
        }
        out.idleTokenTimeoutSeconds = value;
        break;
      }
      case 'enableIdleTokenTimeout':
      case 'inactivityTimeoutGroupsEnabled':
        if (typeof value !== 'boolean') return invalidValue(value, key, 'true, false');
        out[key] = value;
        break;
      case 'inactivityTimeoutUnit':
        if (typeof value !== 'string' || !UNITS.includes(value)) {
          return invalidValue(value, key, UNITS.join(', '));
        }
        out.inactivityTimeoutUnit = value as 'Minutes' | 'Hours';
        break;
      case 'inactivityTimeoutGroupBundles': {
        if (!Array.isArray(value)) return invalidValue(value, key, 'array');
        const bundles: InactivityTimeoutGroupBundle[] = [];
        for (const [i, item] of value.entries()) {
          const checked = validateBundle(item, i);
          if ('fail' in checked) return checked;
          bundles.push(checked.ok);
        }
        out.inactivityTimeoutGroupBundles = bundles;
        break;
      }
      default:
        return unknownProperty(key, 'IdleTokenTimeout');
    }
  }
  return { ok: out };
}
