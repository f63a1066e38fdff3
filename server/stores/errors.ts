/**
 * Thrown (or passed to a store callback) when the session store cannot serve. Its `status` is
 * what the error handler maps to a 503 problem, without knowing the stores.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  // Deliberately not 'ENOENT': express-session treats a get error with that code as "no session".
  readonly code = 'STORE_UNAVAILABLE';
  readonly status = 503;

  constructor(message = 'session store unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Wraps any failure as a StoreUnavailableError, keeping the original as `cause`. */
export function toStoreUnavailable(err: unknown, message?: string): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  return new StoreUnavailableError(message, { cause: err });
}
