import type { SessionLifetimes } from './session-data';

/** Minimal logger a store reports background trouble to (pino's Logger fits). */
export interface StoreLogger {
  warn(details: object, message: string): void;
}

/** Options every store takes. */
export interface StoreOptions extends SessionLifetimes {
  /** How often expired sessions are swept; 0 turns the timer off. Default 60 s. */
  sweepIntervalMs?: number;
  /** Time source in ms since the epoch (tests inject one). Default Date.now. */
  clock?: () => number;
  /** Where background failures (sweeps, file replaced) are reported. Default: nowhere. */
  logger?: StoreLogger;
}

/** The logger of a store given none. */
export const silentLogger: StoreLogger = { warn: () => undefined };
