/**
 * What no answer and no log line of the gateway may hold: a token the emulator issued, a secret
 * of the run, a stack trace. Shared by the fuzz and the soak.
 */

/** Runs of base64url characters: the emulator's tokens are 32 random bytes, 43 such characters. */
const RUN = /[A-Za-z0-9_-]{43,}/g;
const TOKEN_LENGTH = 43;

/** Every token the emulator issued in this run (it reports them), plus the run's own secrets. */
export class Secrets {
  private readonly tokens = new Set<string>();
  private readonly fixed: string[] = [];

  /** Secrets looked for as plain substrings (OAuth client secret, session secret). */
  addFixed(value: string): void {
    this.fixed.push(value);
  }

  addTokens(values: readonly string[]): void {
    for (const value of values) this.tokens.add(value);
  }

  get size(): number {
    return this.tokens.size;
  }

  /** The first secret that `text` holds, described (never the value itself), or undefined. */
  findIn(text: string, runs: readonly string[] = runsOf(text)): string | undefined {
    for (const value of this.fixed) if (text.includes(value)) return 'a secret of the run';
    for (const run of runs) {
      for (let i = 0; i + TOKEN_LENGTH <= run.length; i += 1) {
        if (this.tokens.has(run.slice(i, i + TOKEN_LENGTH))) {
          return `an emulator token (${run.slice(i, i + 6)}…)`;
        }
      }
    }
    return undefined;
  }
}

/** The base64url runs of 43 characters or more in `text` (scanned once, checked twice). */
export function runsOf(text: string): string[] {
  return text.match(RUN) ?? [];
}

/**
 * Something shaped like an emulator token (exactly 43 base64url characters, with upper and lower
 * case and a digit, as random ones have) that is not in `sent`, the request itself: the gateway
 * echoes a few request values (the request id, a path), and those are the client's own.
 */
export function tokenShapedIn(
  text: string,
  sent: string,
  runs: readonly string[] = runsOf(text),
): string | undefined {
  for (const run of runs) {
    if (run.length !== TOKEN_LENGTH) continue;
    if (!/[A-Z]/.test(run) || !/[a-z]/.test(run) || !/[0-9]/.test(run)) continue;
    if (sent.includes(run)) continue;
    return `${run.slice(0, 6)}…`;
  }
  return undefined;
}

/** Stack frames, source paths or Node internals: what an answer or a log line must never show. */
const STACK_SIGNS: readonly RegExp[] = [
  /\n\s+at \S/,
  /\\n\s+at \S/,
  /\bat [\w.<>]+ \([^)]*:\d+:\d+\)/,
  /"stack"\s*:/,
  /\/(?:server|config|dist|node_modules)\/[\w./-]+\.(?:js|ts)\b/,
  /node:internal\//,
];

/** A sign of a stack trace in `text` that is not in `sent`, or undefined. */
export function stackSignIn(text: string, sent = ''): string | undefined {
  for (const sign of STACK_SIGNS) {
    const match = sign.exec(text);
    if (match && !sent.includes(match[0])) return match[0].trim().slice(0, 80);
  }
  return undefined;
}

/** A gateway log line, read as pino JSON. */
export interface LogLine {
  readonly raw: string;
  readonly json: Record<string, unknown> | undefined;
}

export function parseLogLine(raw: string): LogLine {
  try {
    const json = JSON.parse(raw) as unknown;
    return {
      raw,
      json:
        typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : undefined,
    };
  } catch {
    return { raw, json: undefined };
  }
}

/** pino's level of a line, numeric or as the gateway's formatter writes it (a label). */
export function levelOf(line: LogLine): number | undefined {
  const level = line.json?.level;
  if (typeof level === 'number') return level;
  const labels: Record<string, number> = {
    trace: 10,
    debug: 20,
    info: 30,
    warn: 40,
    error: 50,
    fatal: 60,
  };
  return typeof level === 'string' ? labels[level] : undefined;
}
