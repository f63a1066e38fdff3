import type { LockRelease } from './contract';
import type { StoreLogger } from './options';

/**
 * The release of a lock held in a store: `unlock` removes the lock while it is still this
 * holder's. A failure is logged, never thrown: the lock expires on its own.
 */
export function lockRelease(unlock: () => unknown, logger: StoreLogger): LockRelease {
  return async () => {
    try {
      await unlock();
    } catch (err) {
      logger.warn({ err }, 'session store: a lock could not be released; it expires');
    }
  };
}
