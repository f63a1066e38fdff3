import type { StoreLogger } from './options';

const DEFAULT_SWEEP_INTERVAL_MS = 60 * 1000;

/** A running sweep timer. */
export interface Sweeper {
  /** Stops the timer; calling it again does nothing. */
  stop(): void;
}

/**
 * Runs `sweep` every `intervalMs` (default 60 s; 0 turns the timer off). Failures are logged,
 * never thrown.
 */
export function startSweeper(
  sweep: () => Promise<number>,
  intervalMs: number | undefined,
  logger: StoreLogger,
): Sweeper {
  const every = intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  if (every <= 0) return { stop: () => undefined };
  const timer = setInterval(() => {
    sweep().catch((err: unknown) => {
      logger.warn({ err }, 'session store sweep failed');
    });
  }, every);
  // The sweep alone must not keep the process alive (graceful shutdown, jest).
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
