import { z } from 'zod';
import { BadRequestError } from '../core/errors';

// Bounds from the IdleTokenTimeout model and the service's documented range (genesys/README.md).
// HIPAA orgs have a lower cap (900 s) that only Genesys knows about: its 400 passes through.
export const MIN_TIMEOUT_SECONDS = 300;
export const MAX_TIMEOUT_SECONDS = 28_800;
const MAX_BUNDLES = 5;
const MAX_GROUPS_PER_BUNDLE = 1000;
const MAX_GROUP_ID_LENGTH = 128;

/**
 * Every check on a field reports the field's whole rule, so a client reads "must be an integer
 * between 300 and 28800" rather than zod's "Invalid input: expected int, received number".
 */
function rule(message: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => (issue.input === undefined ? 'is required' : message) };
}

const SECONDS = rule(
  `must be an integer between ${MIN_TIMEOUT_SECONDS} and ${MAX_TIMEOUT_SECONDS}`,
);
const BOOLEAN = rule('must be true or false');
const UNIT = rule('must be "Minutes" or "Hours"');
const PRIORITY = rule('must be an integer between 1 and 5');
const GROUPS = rule(`must be a list of at most ${MAX_GROUPS_PER_BUNDLE} group ids`);
const GROUP_ID = rule(`must be a group id (a string of 1 to ${MAX_GROUP_ID_LENGTH} characters)`);
const BUNDLES = rule(`must be a list of at most ${MAX_BUNDLES} group bundles`);
const BUNDLE = rule('must be an object {priority, timeoutSeconds, inactivityTimeoutUnit, groups}');
const BODY = rule('must be a JSON object (IdleTokenTimeout)');

const seconds = z.int(SECONDS).min(MIN_TIMEOUT_SECONDS, SECONDS).max(MAX_TIMEOUT_SECONDS, SECONDS);
const unit = z.enum(['Minutes', 'Hours'], UNIT);

const groupBundle = z.strictObject(
  {
    priority: z.int(PRIORITY).min(1, PRIORITY).max(5, PRIORITY),
    timeoutSeconds: seconds,
    inactivityTimeoutUnit: unit.optional(),
    groups: z
      .array(z.string(GROUP_ID).min(1, GROUP_ID).max(MAX_GROUP_ID_LENGTH, GROUP_ID), GROUPS)
      .max(MAX_GROUPS_PER_BUNDLE, GROUPS),
  },
  BUNDLE,
);

/** PUT /admin/tokens/timeout body: the IdleTokenTimeout model, strict (unknown fields refused). */
export const idleTokenTimeoutSchema = z.strictObject(
  {
    idleTokenTimeoutSeconds: seconds.optional(),
    enableIdleTokenTimeout: z.boolean(BOOLEAN).optional(),
    inactivityTimeoutUnit: unit.optional(),
    inactivityTimeoutGroupsEnabled: z.boolean(BOOLEAN).optional(),
    inactivityTimeoutGroupBundles: z
      .array(groupBundle, BUNDLES)
      .max(MAX_BUNDLES, BUNDLES)
      .optional(),
  },
  BODY,
);

export type IdleTokenTimeout = z.infer<typeof idleTokenTimeoutSchema>;

/** One invalid field of a request body, for the problem's `errors` list. */
export interface FieldError {
  /** Path in the body, e.g. `inactivityTimeoutGroupBundles[0].priority`; `(body)` for the whole. */
  readonly field: string;
  readonly message: string;
}

const WHOLE_BODY = '(body)';

function fieldPath(path: readonly PropertyKey[]): string {
  const joined = path.reduce<string>(
    (acc, key) =>
      typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key),
    '',
  );
  return joined || WHOLE_BODY;
}

/** How many unknown field names a 400 names, and how much of each. */
const MAX_UNKNOWN_NAMED = 5;
const MAX_NAME_ECHOED = 64;

/** zod's issues as field errors, in body order, each field and message once. */
function fieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  const add = (field: string, message: string): void => {
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    errors.push({ field, message });
  };
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const model = issue.path.length === 0 ? 'IdleTokenTimeout' : 'a group bundle';
      // Unknown names are the sender's text: a few, cut short, so a 16 KB body of made-up keys
      // does not come back as a 16 KB error.
      for (const key of issue.keys.slice(0, MAX_UNKNOWN_NAMED)) {
        const name = key.length > MAX_NAME_ECHOED ? `${key.slice(0, MAX_NAME_ECHOED)}…` : key;
        add(fieldPath([...issue.path, name]), `is not a field of ${model}`);
      }
      const more = issue.keys.length - MAX_UNKNOWN_NAMED;
      if (more > 0)
        add(fieldPath(issue.path), `has ${more} more fields that ${model} does not have`);
    } else {
      add(fieldPath(issue.path), issue.message);
    }
  }
  return errors;
}

/** Validates before any upstream call; a 400 names every bad field, in `detail` and in `errors`. */
export function parseIdleTokenTimeout(body: unknown): IdleTokenTimeout {
  const result = idleTokenTimeoutSchema.safeParse(body);
  if (result.success) return result.data;
  const errors = fieldErrors(result.error.issues);
  const described = errors.map(
    (e) => `${e.field === WHOLE_BODY ? 'the request body' : e.field} ${e.message}`,
  );
  const detail = `Invalid IdleTokenTimeout: ${described.join('; ')}.`;
  throw new BadRequestError(detail, { errors });
}
