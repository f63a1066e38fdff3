import { parseArgs } from 'node:util';

/** Scenario groups `--only` picks from. */
export const GROUPS = ['get', 'head', 'c256', 'login', 'sessions'] as const;
export type Group = (typeof GROUPS)[number];
/** Gateway stores and log levels `--stores` and `--levels` pick from. */
export const STORES = ['sqlite', 'redis'] as const;
export const LEVELS = ['info', 'warn'] as const;

export interface Options {
  /** Measured seconds per window. */
  readonly durationSeconds: number;
  /** Seconds of the same load before each measured window, thrown away. */
  readonly warmupSeconds: number;
  readonly rounds: number;
  /** wrk connections of every scenario but c256. */
  readonly connections: number;
  /** Concurrent login loops of the login scenario. */
  readonly loginConcurrency: number;
  /** Sessions (real logins) the get, head and c256 scenarios rotate over. */
  readonly sessions: number;
  /** Live-session counts of the sessions scenario. */
  readonly sessionCounts: readonly number[];
  /** `--baseline` as given; undefined: the default (HEAD~1 when there is one). */
  readonly baseline: string | undefined;
  readonly only: ReadonlySet<Group>;
  /** The gateway's stores measured (default both). */
  readonly stores: readonly (typeof STORES)[number][];
  /** The gateway's log levels in the get scenario (default both; the others run at info). */
  readonly levels: readonly (typeof LEVELS)[number][];
  readonly quick: boolean;
  /** `--cpu-prof DIR`: run the gateways with V8's CPU profiler, profiles under DIR. */
  readonly cpuProfDir: string | undefined;
}

export const USAGE = `usage: npm run bench -- [options]
  --duration S      measured seconds per window (default 5; --quick 1)
  --warmup S        warm-up seconds before a fresh process's first window (default 1)
  --rounds N        interleaved rounds; figures are medians across them (default 3; --quick 1)
  --connections N   wrk connections (default 32; the c256 scenario uses 256)
  --login-concurrency N  concurrent login loops (default 8)
  --sessions N      sessions (real logins) the get/head/c256 scenarios rotate over (default 100)
  --session-counts LIST  live sessions of the sessions scenario (default 1,10000,100000;
                    --quick 1,200,2000)
  --baseline REF    also measure the gateway built from git REF (default HEAD~1), or none
  --only LIST       scenario groups: ${GROUPS.join(',')} (default all)
  --stores LIST     gateway stores: ${STORES.join(',')} (default both)
  --levels LIST     gateway log levels of the get scenario: ${LEVELS.join(',')} (default both)
  --quick           smoke run: 1 round, 1 s windows, small session counts
  --cpu-prof DIR    gateways run with node --cpu-prof, profiles in DIR/<build>-<store>-<level>/
                    (summed up by scripts/profile-owners.ts; the profiler costs CPU itself)`;

function integer(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(
      `--${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      'login-concurrency': { type: 'string' },
      sessions: { type: 'string' },
      'session-counts': { type: 'string' },
      baseline: { type: 'string' },
      only: { type: 'string' },
      stores: { type: 'string' },
      levels: { type: 'string' },
      quick: { type: 'boolean' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const only = new Set<Group>();
  for (const name of (values.only ?? GROUPS.join(',')).split(',')) {
    const group = name.trim() as Group;
    if (!GROUPS.includes(group)) {
      throw new Error(
        `--only: unknown group ${JSON.stringify(name)} (groups: ${GROUPS.join(', ')})`,
      );
    }
    only.add(group);
  }
  const stores = listOf(values.stores, 'stores', STORES);
  const levels = listOf(values.levels, 'levels', LEVELS);
  const counts = (values['session-counts'] ?? (quick ? '1,200,2000' : '1,10000,100000'))
    .split(',')
    .map((n) => integer(n.trim(), 'session-counts', 1, 1, 1_000_000));
  return {
    durationSeconds: integer(values.duration, 'duration', quick ? 1 : 5, 1, 600),
    warmupSeconds: integer(values.warmup, 'warmup', 1, 0, 60),
    rounds: integer(values.rounds, 'rounds', quick ? 1 : 3, 1, 20),
    connections: integer(values.connections, 'connections', 32, 1, 1024),
    loginConcurrency: integer(values['login-concurrency'], 'login-concurrency', 8, 1, 256),
    sessions: integer(values.sessions, 'sessions', quick ? 20 : 100, 1, 10_000),
    sessionCounts: [...new Set(counts)].sort((a, b) => a - b),
    baseline: values.baseline,
    only,
    stores,
    levels,
    quick,
    cpuProfDir: values['cpu-prof'],
  };
}

/** A comma list of names from `allowed` (all of them when absent), in `allowed`'s order. */
function listOf<T extends string>(
  value: string | undefined,
  name: string,
  allowed: readonly T[],
): T[] {
  if (value === undefined) return [...allowed];
  const picked = new Set(value.split(',').map((v) => v.trim()));
  for (const v of picked) {
    if (!allowed.includes(v as T)) {
      throw new Error(`--${name}: unknown ${JSON.stringify(v)} (one of ${allowed.join(', ')})`);
    }
  }
  return allowed.filter((v) => picked.has(v));
}
