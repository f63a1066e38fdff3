/** Turns the bench's per-case medians into the tables and lines `npm run bench` prints. */

/** What one measured window gives; a case's summary holds the medians across its rounds. */
export interface WindowFigures {
  /** Requests (or logins) per second. */
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly cpuUsPerRequest: number;
  readonly targetCpuPercent: number;
  readonly upstreamCpuPercent: number;
  readonly redisCpuPercent: number;
  readonly loaderCpuPercent: number;
  readonly otherCpuPercent: number;
  readonly rssBytes: number;
  /** Share of answers with a Set-Cookie (the gateway rolled the session's idle expiry), in %. */
  readonly setCookiePercent: number;
}

export interface CaseSummary extends WindowFigures {
  readonly scenario: string;
  readonly scenarioTitle: string;
  readonly group: string;
  readonly kind: 'http' | 'login';
  /** The scenario whose express-floor row this one's ratios use. */
  readonly floorScenario: string | undefined;
  readonly sessionCount: number | undefined;
  readonly target: string;
  readonly targetTitle: string;
  readonly targetKind: 'express-floor' | 'careful-express' | 'gateway';
  readonly build: 'current' | 'baseline' | undefined;
  readonly store: 'sqlite' | 'redis' | undefined;
  readonly storeSessions: number | undefined;
  readonly storeBytes: number | undefined;
  readonly logLevel: string | undefined;
  readonly rounds: number;
  readonly maxOtherCpuPercent: number;
  /** (max − min) ÷ median of req/s across rounds, in %. */
  readonly spreadPercent: number;
  /** Sums over the rounds. */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly badBody: number;
  readonly failuresBy: Readonly<Record<string, number>>;
  readonly logWarnings: number;
  readonly problems: readonly string[];
  readonly notes: readonly string[];
  readonly samples: readonly unknown[];
}

interface Context {
  readonly busyWarningPercent: number;
  readonly builds: readonly { id: string; label: string; seedProblem: string | undefined }[];
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

const fixed = (n: number, digits: number): string => n.toFixed(digits);
const ratio = (a: number, b: number | undefined): string =>
  b === undefined || b === 0 || a === 0 ? '—' : `${(a / b).toFixed(2)}×`;
const mb = (bytes: number): string => (bytes / 1048576).toFixed(0);
const pct = (n: number): string => `${n.toFixed(0)} %`;

export function failuresOf(c: CaseSummary): number {
  return (
    c.errors + c.timeouts + c.non2xx + c.badBody + c.problems.length + (c.rounds === 0 ? 1 : 0)
  );
}

export function report(
  cases: readonly CaseSummary[],
  context: Context,
): { text: string; failed: boolean } {
  const out: string[] = [];
  const floorOf = (c: CaseSummary): CaseSummary | undefined =>
    cases.find((f) => f.targetKind === 'express-floor' && f.scenario === c.floorScenario);

  const http = cases.filter((c) => c.kind === 'http' && c.group !== 'sessions');
  if (http.length > 0) {
    out.push(
      table(
        [
          'target',
          'scenario',
          'req/s',
          'p50 ms',
          'p99 ms',
          'CPU µs/req',
          'CPU ÷ floor',
          'req/s ÷ floor',
          'p99 ÷ floor',
          'err/timeout/non-2xx/bad',
          'rolled',
          'RSS MB',
          'upstream CPU',
          'redis CPU',
          'loader CPU',
          'other CPU',
          'spread',
        ],
        http.map((c) => {
          const floor = floorOf(c);
          return [
            c.targetTitle,
            c.scenarioTitle,
            fixed(c.perSecond, 0),
            fixed(c.p50Ms, 2),
            fixed(c.p99Ms, 2),
            fixed(c.cpuUsPerRequest, 0),
            ratio(c.cpuUsPerRequest, floor?.cpuUsPerRequest),
            ratio(c.perSecond, floor?.perSecond),
            ratio(c.p99Ms, floor?.p99Ms),
            `${c.errors}/${c.timeouts}/${c.non2xx}/${c.badBody}`,
            pct(c.setCookiePercent),
            mb(c.rssBytes),
            pct(c.upstreamCpuPercent),
            c.store === 'redis' ? pct(c.redisCpuPercent) : '—',
            pct(c.loaderCpuPercent),
            pct(c.otherCpuPercent),
            `${fixed(c.spreadPercent, 0)} %`,
          ];
        }),
      ),
    );
    out.push('');
  }

  const logins = cases.filter((c) => c.kind === 'login');
  if (logins.length > 0) {
    out.push(
      table(
        [
          'target',
          'scenario',
          'logins/s',
          'p50 ms',
          'p99 ms',
          'CPU µs/login',
          'failures',
          'RSS MB',
          'upstream CPU',
          'redis CPU',
          'loader CPU',
          'other CPU',
          'spread',
        ],
        logins.map((c) => [
          c.targetTitle,
          c.scenarioTitle,
          fixed(c.perSecond, 0),
          fixed(c.p50Ms, 2),
          fixed(c.p99Ms, 2),
          fixed(c.cpuUsPerRequest, 0),
          String(c.non2xx + c.badBody),
          mb(c.rssBytes),
          pct(c.upstreamCpuPercent),
          c.store === 'redis' ? pct(c.redisCpuPercent) : '—',
          pct(c.loaderCpuPercent),
          pct(c.otherCpuPercent),
          `${fixed(c.spreadPercent, 0)} %`,
        ]),
      ),
    );
    for (const c of logins) {
      for (const [k, v] of Object.entries(c.failuresBy))
        out.push(`  ${c.targetTitle}: ${v} × ${k}`);
    }
    out.push('');
  }

  const sessions = cases.filter((c) => c.group === 'sessions');
  if (sessions.length > 0) {
    out.push(
      table(
        [
          'target',
          'live sessions',
          'req/s',
          'p50 ms',
          'p99 ms',
          'p99 ÷ at fewest',
          'req/s ÷ at fewest',
          'CPU µs/req',
          'err/timeout/non-2xx/bad',
          'rolled',
          'RSS MB',
          'store MB',
          'redis CPU',
          'other CPU',
          'spread',
        ],
        sessions.map((c) => {
          const fewest = sessions
            .filter((o) => o.targetTitle === c.targetTitle)
            .sort((a, b) => (a.sessionCount ?? 0) - (b.sessionCount ?? 0))[0];
          return [
            c.targetTitle,
            String(c.sessionCount ?? '?'),
            fixed(c.perSecond, 0),
            fixed(c.p50Ms, 2),
            fixed(c.p99Ms, 2),
            ratio(c.p99Ms, fewest?.p99Ms),
            ratio(c.perSecond, fewest?.perSecond),
            fixed(c.cpuUsPerRequest, 0),
            `${c.errors}/${c.timeouts}/${c.non2xx}/${c.badBody}`,
            pct(c.setCookiePercent),
            mb(c.rssBytes),
            c.storeBytes === undefined ? '—' : (c.storeBytes / 1e6).toFixed(1),
            c.store === 'redis' ? pct(c.redisCpuPercent) : '—',
            pct(c.otherCpuPercent),
            `${fixed(c.spreadPercent, 0)} %`,
          ];
        }),
      ),
    );
    const targets = [...new Set(sessions.map((c) => c.targetTitle))];
    for (const target of targets) {
      const rows = sessions
        .filter((c) => c.targetTitle === target && c.rounds > 0)
        .sort((a, b) => (a.sessionCount ?? 0) - (b.sessionCount ?? 0));
      const low = rows[0];
      const high = rows[rows.length - 1];
      if (!low || !high || low === high) continue;
      const n = (high.sessionCount ?? 0) - (low.sessionCount ?? 0);
      const per10k = (a: number, b: number): string => ((((b - a) / n) * 10_000) / 1e6).toFixed(2);
      out.push(
        `sessions ${high.targetTitle}: at ${high.sessionCount} live sessions p99 ${ratio(high.p99Ms, low.p99Ms)} ` +
          `and req/s ${ratio(high.perSecond, low.perSecond)} of those at ${low.sessionCount}; gateway RSS ` +
          `${per10k(low.rssBytes, high.rssBytes)} MB per 10k sessions; store ` +
          (high.storeBytes !== undefined && low.storeBytes !== undefined
            ? `${per10k(low.storeBytes, high.storeBytes)} MB per 10k sessions`
            : 'size unknown'),
      );
    }
    out.push('');
  }

  // A/B: the same scenario, store and log level, current ÷ baseline.
  const ab: string[] = [];
  for (const c of cases.filter((x) => x.build === 'current')) {
    const b = cases.find(
      (x) =>
        x.build === 'baseline' &&
        x.scenario === c.scenario &&
        x.store === c.store &&
        x.logLevel === c.logLevel,
    );
    if (!b) continue;
    const unit = c.kind === 'login' ? 'logins/s' : 'req/s';
    ab.push(
      `A/B ${c.scenarioTitle}, ${c.store} ${c.logLevel}: ${unit} ${ratio(c.perSecond, b.perSecond)}, ` +
        `CPU µs/${c.kind === 'login' ? 'login' : 'req'} ${ratio(c.cpuUsPerRequest, b.cpuUsPerRequest)}, ` +
        `p99 ${ratio(c.p99Ms, b.p99Ms)}  (current ${fixed(c.perSecond, 0)} ${unit}, ` +
        `${fixed(c.cpuUsPerRequest, 0)} µs, p99 ${fixed(c.p99Ms, 1)} ms; baseline ` +
        `${fixed(b.perSecond, 0)}, ${fixed(b.cpuUsPerRequest, 0)} µs, ${fixed(b.p99Ms, 1)} ms)`,
    );
  }
  const baseline = context.builds.find((b) => b.id === 'baseline');
  if (baseline) {
    out.push(
      `A/B: current ÷ baseline; current = ${context.builds[0]?.label ?? '?'}, baseline = ${baseline.label}`,
    );
    out.push(...(ab.length > 0 ? ab : ['(no scenario measured both)']));
    if (baseline.seedProblem !== undefined) {
      out.push(`(baseline not measured with seeded sessions: ${baseline.seedProblem})`);
    }
    out.push('');
  }

  // Noise.
  const measured = cases.filter((c) => c.rounds > 1);
  if (measured.length > 0) {
    const spreads = measured.map((c) => c.spreadPercent).sort((a, b) => a - b);
    const worst = measured.reduce((a, b) => (b.spreadPercent > a.spreadPercent ? b : a));
    out.push(
      `noise: req/s spread across rounds (max − min) ÷ median: median ${fixed(spreads[Math.floor(spreads.length / 2)] ?? 0, 0)} %, ` +
        `worst ${fixed(worst.spreadPercent, 0)} % (${worst.targetTitle}, ${worst.scenarioTitle})`,
    );
  } else {
    out.push('noise: one round only, no spread to show (ratios from one window each)');
  }
  const crowded = cases.filter((c) => c.maxOtherCpuPercent > context.busyWarningPercent);
  if (crowded.length > 0) {
    out.push(
      `WARNING: other processes used more than ${context.busyWarningPercent} % of a core during ` +
        `${crowded.length} of ${cases.length} cases (worst ${fixed(Math.max(...crowded.map((c) => c.maxOtherCpuPercent)), 0)} %): ` +
        'the machine was busy; compare ratios only from a quiet run.',
    );
  }
  for (const c of cases) {
    for (const note of c.notes) out.push(`note: ${c.targetTitle}, ${c.scenarioTitle}: ${note}`);
  }
  const failed = cases.filter((c) => failuresOf(c) > 0);
  for (const c of failed) {
    out.push(
      `FAILED: ${c.targetTitle}, ${c.scenarioTitle}: ${c.errors} errors, ${c.timeouts} timeouts, ` +
        `${c.non2xx} non-2xx, ${c.badBody} bad bodies${c.problems.length > 0 ? `; ${c.problems.join('; ')}` : ''}`,
    );
  }
  if (failed.length === 0)
    out.push(
      'every request of every window succeeded (0 errors, 0 timeouts, 0 non-2xx, 0 bad bodies)',
    );
  return { text: out.join('\n'), failed: failed.length > 0 };
}
