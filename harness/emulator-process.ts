import { DEFAULT_ORG, DEFAULT_USERS, GenesysEmulator } from '../emulator/genesys-emulator';
import { EmulatorState } from '../emulator/state';
import type { EmulatorClient, IssuedTokens, RecordedRequest } from '../emulator/types';
import { FRAME_USER } from './session-pool';

/**
 * The Genesys emulator (emulator/, a real HTTP server) as a process of its own, so the
 * gateway's upstream does not share an event loop with the traffic the harness sends.
 * `node emulator-process.js '<json EmulatorJob>'` prints `{"port":N}` once listening, then one
 * line `{"issued":[access, refresh?]}` per token set it mints, so the harness knows every token
 * value the gateway holds and can look for them where they must never be. Stops on SIGTERM.
 */

export interface EmulatorJob {
  readonly client: EmulatorClient;
}

/** What each line after the first says: the tokens of a token set it minted… */
export interface IssuedLine {
  readonly issued: readonly string[];
}

/**
 * …or an API call from the gateway that carried what only a browser sends, no bearer token, or
 * a body it should not have.
 */
export interface ForwardedLine {
  readonly forwarded: {
    readonly method: string;
    readonly path: string;
    /** The browser's headers that reached Genesys, and `no bearer token` when it was missing. */
    readonly problems: readonly string[];
    /** ININ-Correlation-Id or X-Request-Id of the call: the gateway request behind it. */
    readonly requestId: string | undefined;
  };
}

/**
 * Headers the harness sends as a browser and the gateway must never pass on (SPEC: only the
 * route's own call reaches Genesys). Not user-agent or accept, which the proxy keeps on purpose,
 * nor sec-fetch-mode, which the gateway's own fetch() sets.
 */
const BROWSER_ONLY =
  /^(cookie|x-csrf|origin|sec-fetch-site|x-request-id|expect|content-encoding|forwarded|range|if-none-match|x-http-method-override|x-forwarded-.*|x-fill|x-h\d+|x-latin|x-null|x_under|x-slow-.*)$/;

/** What is wrong with an API call the gateway made: browser headers, no token, a smuggled body. */
function forwardedProblems(req: RecordedRequest): string[] {
  const problems = Object.keys(req.headers).filter((name) => BROWSER_ONLY.test(name));
  if (!/^Bearer \S+$/.test(String(req.headers.authorization ?? '')))
    problems.push('no bearer token');
  // Bytes of another request inside this one's body: requests desynchronised on the pool.
  if (/ HTTP\/1\.[01]\r?\n/.test(req.body)) problems.push('another request inside its body');
  else if (req.method !== 'PUT' && req.body !== '') problems.push(`a ${req.method} with a body`);
  return problems;
}

/** The emulator's state, reporting every token set it mints on stdout. */
class ReportingState extends EmulatorState {
  override issueTokens(...args: Parameters<EmulatorState['issueTokens']>): IssuedTokens {
    const tokens = super.issueTokens(...args);
    const issued = [tokens.access_token, ...(tokens.refresh_token ? [tokens.refresh_token] : [])];
    process.stdout.write(`${JSON.stringify({ issued } satisfies IssuedLine)}\n`);
    return tokens;
  }
}

/** Request records are checked and dropped this often, dead tokens too: a soak must not grow the emulator. */
const HOUSEKEEPING_MS = 1000;

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as EmulatorJob;
  // Real time: tokens expire as at Genesys, so short-lived ones get refreshed.
  const state = new ReportingState(DEFAULT_ORG, Date.now(), false, true);
  const emulator = new GenesysEmulator(state);
  for (const user of [...DEFAULT_USERS, FRAME_USER]) emulator.addUser(user);
  emulator.addClient(job.client);
  await emulator.listen('127.0.0.1', 0);
  const timer = setInterval(() => {
    for (const req of emulator.requests) {
      if (!req.path.startsWith('/api/')) continue;
      const problems = forwardedProblems(req);
      if (problems.length === 0) continue;
      const id = req.headers['inin-correlation-id'] ?? req.headers['x-request-id'];
      const line: ForwardedLine = {
        forwarded: {
          method: req.method,
          path: req.path,
          problems,
          requestId: typeof id === 'string' ? id : undefined,
        },
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    emulator.clearRequests();
    state.sweep();
  }, HOUSEKEEPING_MS);
  process.stdout.write(`${JSON.stringify({ port: Number(new URL(emulator.url).port) })}\n`);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    void emulator.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`emulator failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
