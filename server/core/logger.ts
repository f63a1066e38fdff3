import pino from 'pino';
import type { LogLevel } from '../../config/types';

export type Logger = pino.Logger;

/**
 * Paths pino blanks out wherever they appear. The gateway never logs tokens on purpose; this is the
 * belt to those braces, so a careless `logger.info({ headers })` cannot leak a credential.
 */
export const REDACT_PATHS = [
  'authorization',
  'cookie',
  '*.authorization',
  '*.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  'access_token',
  'refresh_token',
  '*.access_token',
  '*.refresh_token',
  '*.accessToken',
  '*.refreshToken',
  'accessToken',
  'refreshToken',
  'code_verifier',
  '*.code_verifier',
];

/**
 * JSON logger on stdout (or `destination`), with redaction. Tests pass a stream to read the lines.
 * stdout is written synchronously, pino's default: an asynchronous destination measured no
 * cheaper under load (docs/performance.md), and this way no line waits in a buffer or is lost
 * when the process is killed.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tokens-bff' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * The same logger without redaction, for lines whose fields are fixed and hold no secret (the
 * access line): redaction walks its paths on every line, several times the cost of the line.
 */
export function unredacted(logger: Logger): Logger {
  return logger.child({}, { redact: [] });
}

/** A logger that writes nothing, for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
