import { z } from 'zod';
import { BadRequestError } from './errors';

// Bounds from the IdleTokenTimeout model and the service's documented range (genesys/README.md).
const seconds = z.number().int().min(300).max(28800);
const unit = z.enum(['Minutes', 'Hours']);

const groupBundle = z.strictObject({
  priority: z.number().int().min(1).max(5),
  timeoutSeconds: seconds,
  inactivityTimeoutUnit: unit.optional(),
  groups: z.array(z.string().min(1).max(128)).max(1000),
});

/** PUT /admin/tokens/timeout body: the IdleTokenTimeout model, strict (unknown fields refused). */
export const idleTokenTimeoutSchema = z.strictObject({
  idleTokenTimeoutSeconds: seconds.optional(),
  enableIdleTokenTimeout: z.boolean().optional(),
  inactivityTimeoutUnit: unit.optional(),
  inactivityTimeoutGroupsEnabled: z.boolean().optional(),
  inactivityTimeoutGroupBundles: z.array(groupBundle).max(5).optional(),
});

export type IdleTokenTimeout = z.infer<typeof idleTokenTimeoutSchema>;

/** One invalid field of a request body, for the problem's `errors` list. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) =>
      typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key),
    '',
  );
}

/** Validates before any upstream call; a 400 names every bad field, in `detail` and in `errors`. */
export function parseIdleTokenTimeout(body: unknown): IdleTokenTimeout {
  const result = idleTokenTimeoutSchema.safeParse(body);
  if (result.success) return result.data;
  const errors: FieldError[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        errors.push({
          field: fieldPath([...issue.path, key]),
          message: 'is not a field of IdleTokenTimeout',
        });
      }
    } else {
      errors.push({ field: fieldPath(issue.path) || '(body)', message: issue.message });
    }
  }
  const detail = `Invalid IdleTokenTimeout: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}.`;
  throw new BadRequestError(detail, { errors });
}
