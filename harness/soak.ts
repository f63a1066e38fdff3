import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { haveCommand, killAllNow, rssBytes, stopAll } from '../bench/procs';
import { levelOf, parseLogLine, runsOf, stackSignIn } from './checks';
import { Client, login, LoginFailed, NoAnswer } from './client';
import type { SessionKind } from './fuzz-cases';
import { printable, responseText, type RawRequest, type RawResponse } from './raw-http';
import { bump, histogramLine, mb } from './report';
import { Rng } from './rng';
import { RevokeGate, USER_IDS } from './session-pool';
import {
  commitBuild,
  currentBuild,
  startRedis,
  startStack,
  type Redis,
  type StoreKind,
} from './stack';
import { readFlags } from './flags';

/**
 * `npm run soak -- --minutes N`: steady mixed traffic against the gateway process for N minutes
 * (logins through the emulator, GET/HEAD /session, logouts, token refreshes of short-lived
 * tokens, admin reads and updates of the idle timeout, user revokes), sampling the gateway's
 * RSS, heap, event-loop lag and open handles every few seconds into a CSV and a JSON file.
 * Exits 1 when RSS, heap or file descriptors grow past their bounds after warm-up, or on any
 * 5xx, crash, token or stack trace in an answer or a log line, or error-level log line.
 * See docs/hardening.md.
 */

const USAGE = `usage: npm run soak -- --minutes N [--store sqlite|redis] [--users N] [--think-ms N]
       [--token-lifetime S] [--sample-seconds S] [--rss-bound MB] [--heap-bound MB] [--fd-bound N]
       [--seed N] [--out PREFIX] [--gateway <git ref>]
  --minutes         how long the traffic runs (default 2)
  --store           the gateway's store (default sqlite)
  --users           virtual users, each logging in, polling, logging out, again (default 16)
  --think-ms        pause between one user's requests (default 50)
  --token-lifetime  access-token lifetime the emulator gives, s (default 75: the gateway refreshes
                    60 s before expiry, so a session refreshes 15 s after each login or refresh)
  --sample-seconds  how often the gateway is sampled (default 3)
  --rss-bound       most RSS may grow, last window against the one after warm-up (medians), MB
                    (default 48)
  --heap-bound      the same for V8's used heap (lowest sample of each window), MB (default 24)
  --fd-bound        the same for open file descriptors (default 64)
  --out             where the samples go: PREFIX.csv and PREFIX.json (default dist/soak/soak-<time>)`;

interface Options {
  readonly minutes: number;
  readonly store: StoreKind;
  readonly users: number;
  readonly thinkMs: number;
  readonly tokenLifetime: number;
  readonly sampleSeconds: number;
  readonly rssBoundMb: number;
  readonly heapBoundMb: number;
  readonly fdBound: number;
  readonly seed: number;
  readonly out: string;
  readonly gateway: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const flags = readFlags(argv, USAGE);
  const take = (name: string): string | undefined => flags.take(name);
  const num = (name: string, fallback: number, min: number): number => {
    const raw = take(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const options: Options = {
    minutes: num('minutes', 2, 0.1),
    store: (take('store') ?? 'sqlite') as StoreKind,
    users: Math.round(num('users', 16, 1)),
    thinkMs: num('think-ms', 50, 0),
    tokenLifetime: num('token-lifetime', 75, 61),
    sampleSeconds: num('sample-seconds', 3, 1),
    rssBoundMb: num('rss-bound', 48, 1),
    heapBoundMb: num('heap-bound', 24, 1),
    fdBound: Math.round(num('fd-bound', 64, 1)),
    seed: Math.round(num('seed', Math.floor(Math.random() * 2 ** 31), 0)),
    out: take('out') ?? path.resolve(__dirname, '../soak', `soak-${stamp}`),
    gateway: take('gateway'),
  };
  if (options.store !== 'sqlite' && options.store !== 'redis') {
    throw new Error(`--store must be sqlite or redis`);
  }
  flags.done();
  return options;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** At most one revoke of every agent session this often (each one sends them all to log in again). */
const REVOKE_EVERY_MS = 20_000;

/** One look at the gateway. */
interface Sample {
  readonly t: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly eventLoopLagP99Ms: number;
  readonly eventLoopLagMaxMs: number;
  readonly openFds: number;
  readonly activeHandles: number;
  readonly requestsPerSecond: number;
  readonly logins: number;
  readonly refreshes: number;
  readonly liveSessionsStartedMinusEnded: number;
}

const CSV_COLUMNS: readonly (keyof Sample)[] = [
  't',
  'rssBytes',
  'heapUsedBytes',
  'heapTotalBytes',
  'eventLoopLagP99Ms',
  'eventLoopLagMaxMs',
  'openFds',
  'activeHandles',
  'requestsPerSecond',
  'logins',
  'refreshes',
  'liveSessionsStartedMinusEnded',
];

/** The sum of a metric's series in Prometheus text (all label sets); NaN when it has none. */
function metric(text: string, name: string): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      sum += value;
      found = true;
    }
  }
  return found ? sum : NaN;
}

function median(values: readonly number[]): number {
  const sorted = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

interface Traffic {
  requests: number;
  readonly statuses: Map<string, number>;
  readonly failures: string[];
  logins: number;
  readonly loginFailures: Map<string, number>;
  logouts: number;
  revokes: number;
  sessionsCutShort: number;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.store === 'redis' && !haveCommand('redis-server')) {
    throw new Error('redis-server is not installed (Debian: apt-get install -y redis-server)');
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-soak-'));
  const build =
    options.gateway !== undefined ? commitBuild(options.gateway, say) : currentBuild(dataDir);
  const traffic: Traffic = {
    requests: 0,
    statuses: new Map(),
    failures: [],
    logins: 0,
    loginFailures: new Map(),
    logouts: 0,
    revokes: 0,
    sessionsCutShort: 0,
  };
  const fail = (line: string): void => {
    if (traffic.failures.length < 200) traffic.failures.push(line);
  };
  const levels = new Map<string, number>();
  let redis: Redis | undefined;
  try {
    if (options.store === 'redis') redis = await startRedis(dataDir);
    const stack = await startStack({
      build,
      store: options.store,
      dataDir,
      redis,
      metricsPort: true,
      accessTokenLifetimeSeconds: options.tokenLifetime,
      onLogLine: (raw, stream) => {
        const line = parseLogLine(raw);
        if (line.json === undefined) {
          bump(levels, `non-JSON ${stream}`);
          fail(`non-JSON log output on ${stream}: ${printable(raw, 300)}`);
          return;
        }
        const level = levelOf(line) ?? 0;
        bump(levels, typeof line.json.level === 'string' ? line.json.level : String(level));
        if (level >= 50) fail(`error-level log line: ${printable(raw, 500)}`);
        const sign = stackSignIn(raw);
        if (sign !== undefined && level < 50)
          fail(`stack trace in the log: ${printable(raw, 500)}`);
      },
      onForwarded: (call) =>
        fail(`bad call to Genesys: ${call.method} ${call.path}: ${call.problems.join(', ')}`),
    });
    const pid = stack.gateway.pid;
    let stopping = false;
    stack.gateway.once('exit', (code) => {
      if (!stopping) fail(`the gateway exited during the soak (code ${String(code)})`);
    });
    say(
      `soak: ${options.minutes} min on ${options.store}, ${options.users} users, ${options.thinkMs} ms think time, tokens of ${options.tokenLifetime} s, seed ${options.seed}, gateway ${build.label}`,
    );

    const deadline = Date.now() + options.minutes * 60_000;
    const gate = new RevokeGate();
    let lastRevoke = Date.now();
    /** When the latest revoke of every agent token started: older agent sessions may meet a 401. */
    let agentsRevokedAt = 0;
    const check = (res: RawResponse, sent: RawRequest, what: string): void => {
      bump(traffic.statuses, String(res.status));
      traffic.requests += 1;
      if (res.status >= 500) fail(`${what}: ${res.status} ${printable(responseText(res), 400)}`);
      const text = responseText(res);
      const secret = stack.secrets.findIn(text, runsOf(text));
      if (secret !== undefined) fail(`${what}: the answer holds ${secret}`);
      const sign = stackSignIn(text, sent.target);
      if (sign !== undefined) fail(`${what}: stack trace in the answer: ${sign}`);
    };

    /** One virtual user: log in, use the session a while, log out; again until the deadline. */
    const user = async (index: number): Promise<void> => {
      const rng = Rng.for(options.seed, index);
      const client = new Client();
      const hostHeader: [string, string] = ['Host', `127.0.0.1:${stack.port}`];
      let n = 0;
      const send = async (req: RawRequest, what: string): Promise<RawResponse | undefined> => {
        try {
          const res = await client.send(stack.port, req);
          check(res, req, what);
          return res;
        } catch (err) {
          const reason = err instanceof NoAnswer ? err.reason : String(err);
          bump(traffic.statuses, reason);
          fail(`${what}: no answer (${reason})`);
          return undefined;
        }
      };
      while (Date.now() < deadline) {
        const kind: SessionKind = rng.chance(0.25) ? 'admin' : 'agent';
        let cookie: string;
        const loginAt = Date.now();
        try {
          cookie = await gate.login(kind, () => login(client, stack, USER_IDS[kind]));
          traffic.logins += 1;
        } catch (err) {
          const key =
            err instanceof LoginFailed ? err.step : err instanceof NoAnswer ? err.reason : 'error';
          bump(traffic.loginFailures, key);
          fail(`login of ${kind} failed at ${key}`);
          await delay(1000);
          continue;
        }
        // Sessions of 5 to 40 s: long ones outlive their token's refresh point (15 s).
        const sessionEnd = Math.min(deadline, Date.now() + rng.range(5, 40) * 1000);
        let alive = true;
        while (alive && Date.now() < sessionEnd) {
          n += 1;
          const base: [string, string][] = [
            hostHeader,
            ['X-Request-Id', `soak-${index}-${n}`],
            ['X-CSRF', '1'],
            ['Cookie', cookie],
          ];
          const roll = rng.int(100);
          let req: RawRequest;
          let what: string;
          if (kind === 'admin' && roll < 25) {
            req = { method: 'GET', target: '/admin/tokens/timeout', headers: base };
            what = 'GET /admin/tokens/timeout';
          } else if (kind === 'admin' && roll < 35) {
            req = {
              method: 'PUT',
              target: '/admin/tokens/timeout',
              headers: [...base, ['Content-Type', 'application/json']],
              body: Buffer.from(
                JSON.stringify({
                  idleTokenTimeoutSeconds: rng.range(300, 28_800),
                  enableIdleTokenTimeout: false,
                }),
              ),
            };
            what = 'PUT /admin/tokens/timeout';
          } else if (kind === 'admin' && roll < 40) {
            // A user Genesys does not know: 404 passed through, no local session ends.
            req = {
              method: 'DELETE',
              target: `/admin/users/${randomUuid(rng)}/tokens`,
              headers: base,
            };
            what = 'DELETE /admin/users/:unknown/tokens';
          } else if (
            kind === 'admin' &&
            roll === 40 &&
            Date.now() - lastRevoke >= REVOKE_EVERY_MS
          ) {
            // Now and then every agent session ends: they meet a 401 and log in again.
            lastRevoke = Date.now();
            const res = await gate.revoke('agent', () => {
              agentsRevokedAt = Date.now();
              return send(
                {
                  method: 'DELETE',
                  target: `/admin/users/${USER_IDS.agent}/tokens`,
                  headers: base,
                },
                'revoke agent',
              );
            });
            if (res?.status === 204) traffic.revokes += 1;
            await delay(options.thinkMs);
            continue;
          } else if (roll < 60) {
            req = { method: 'GET', target: '/session', headers: base };
            what = 'GET /session';
          } else if (roll < 80) {
            req = { method: 'HEAD', target: '/session', headers: base };
            what = 'HEAD /session';
          } else if (roll < 92) {
            req = { method: 'HEAD', target: '/session?preserveIdleTTL=true', headers: base };
            what = 'HEAD /session?preserveIdleTTL=true';
          } else {
            req = { method: 'GET', target: '/session?preserveIdleTTL=true', headers: base };
            what = 'GET /session?preserveIdleTTL=true';
          }
          const res = await send(req, what);
          if (res?.status === 401) {
            // Only an admin's revoke of every agent token ends a session early here: any other
            // 401 (a refresh that failed, a session lost by the store) is a defect.
            traffic.sessionsCutShort += 1;
            alive = false;
            if (kind === 'admin' || loginAt >= agentsRevokedAt) {
              fail(
                `${what}: 401 for a live ${kind} session no revoke ended: ${printable(res.body, 300)}`,
              );
            }
          } else if (res !== undefined && res.status !== 200 && res.status !== 404) {
            fail(`${what}: unexpected ${res.status} ${printable(res.body, 300)}`);
          }
          if (options.thinkMs > 0) await delay(options.thinkMs);
        }
        if (!alive) continue;
        const form = rng.chance(0.3);
        const res = await send(
          form
            ? {
                method: 'POST',
                target: '/auth/logout',
                headers: [
                  hostHeader,
                  ['Origin', stack.origin],
                  ['Cookie', cookie],
                  ['Content-Type', 'application/x-www-form-urlencoded'],
                ],
                body: Buffer.alloc(0),
              }
            : {
                method: 'DELETE',
                target: '/session',
                headers: [hostHeader, ['X-CSRF', '1'], ['Cookie', cookie]],
              },
          form ? 'POST /auth/logout' : 'DELETE /session',
        );
        if (res !== undefined && res.status !== (form ? 303 : 204)) {
          fail(`logout: unexpected ${res.status} ${printable(res.body, 300)}`);
        } else traffic.logouts += 1;
      }
      client.close();
    };

    // Sampling: the gateway's /proc and its Prometheus metrics (METRICS_PORT).
    const samples: Sample[] = [];
    const t0 = Date.now();
    let lastRequests = 0;
    let lastT = t0;
    let sampling = true;
    const sampleOnce = async (): Promise<void> => {
      let text = '';
      try {
        const res = await fetch(stack.metricsUrl as string, { signal: AbortSignal.timeout(3000) });
        text = await res.text();
      } catch {
        fail('the metrics endpoint did not answer within 3 s');
      }
      let fds = NaN;
      try {
        fds = fs.readdirSync(`/proc/${String(pid)}/fd`).length;
      } catch {
        // gone
      }
      const now = Date.now();
      const sample: Sample = {
        t: Math.round((now - t0) / 100) / 10,
        rssBytes: rssBytes(pid),
        heapUsedBytes: metric(text, 'nodejs_heap_size_used_bytes'),
        heapTotalBytes: metric(text, 'nodejs_heap_size_total_bytes'),
        eventLoopLagP99Ms: metric(text, 'nodejs_eventloop_lag_p99_seconds') * 1000,
        eventLoopLagMaxMs: metric(text, 'nodejs_eventloop_lag_max_seconds') * 1000,
        openFds: fds,
        activeHandles: metric(text, 'nodejs_active_handles_total'),
        requestsPerSecond: Math.round((traffic.requests - lastRequests) / ((now - lastT) / 1000)),
        // A counter has no series before its first increment.
        logins: text === '' ? NaN : metric(text, 'bff_logins_total') || 0,
        refreshes: text === '' ? NaN : metric(text, 'bff_token_refreshes_total') || 0,
        liveSessionsStartedMinusEnded:
          metric(text, 'bff_sessions_started_total') - metric(text, 'bff_sessions_ended_total'),
      };
      lastRequests = traffic.requests;
      lastT = now;
      samples.push(sample);
      say(
        `  t=${sample.t.toFixed(0)}s RSS ${mb(sample.rssBytes)} heap ${mb(sample.heapUsedBytes)} lag p99 ${sample.eventLoopLagP99Ms.toFixed(1)} ms fds ${sample.openFds} handles ${sample.activeHandles} ${sample.requestsPerSecond} req/s refreshes ${sample.refreshes}`,
      );
    };
    const sampler = (async () => {
      await sampleOnce();
      while (sampling) {
        await delay(options.sampleSeconds * 1000);
        if (sampling) await sampleOnce();
      }
    })();
    await Promise.all(Array.from({ length: options.users }, (_, i) => user(i)));
    sampling = false;
    await sampler;
    // One more look with the traffic stopped (in the files, not in the windows).
    const loadEndT = (Date.now() - t0) / 1000;
    await delay(1000);
    await sampleOnce();

    stopping = true;
    const exitCode = await stack.stopGateway();
    await stack.stop();
    for (const raw of fs.readFileSync(stack.logFile, 'utf8').split('\n')) {
      const secret = raw === '' ? undefined : stack.secrets.findIn(raw);
      if (secret !== undefined) fail(`token in the log: ${secret}`);
    }
    if (exitCode !== 0) fail(`the gateway exited ${String(exitCode)} after SIGTERM`);

    // Growth: the window just after warm-up against the last window of the run, each a tenth of
    // the run and at least 30 s. RSS and fds by their medians; the heap by its lowest sample,
    // the live heap after a collection (a sample between collections also counts garbage).
    const durationS = options.minutes * 60;
    const warmupS = Math.max(30, durationS / 10);
    const windowS = Math.max(30, durationS / 10);
    const loaded = samples.filter((s) => s.t <= loadEndT);
    const after = loaded.filter((s) => s.t >= warmupS);
    const baseWindow = after.filter((s) => s.t < warmupS + windowS);
    const base = baseWindow.length >= 3 ? baseWindow : after.slice(0, 3);
    const endWindow = loaded.filter((s) => s.t > durationS - windowS);
    const end = endWindow.length >= 3 ? endWindow : loaded.slice(-3);
    const growth = (
      pick: (s: Sample) => number,
      summary: (values: number[]) => number = median,
    ): { base: number; end: number; delta: number } => {
      const b = summary(base.map(pick));
      const e = summary(end.map(pick));
      return { base: b, end: e, delta: e - b };
    };
    const lowest = (values: number[]): number => Math.min(...values.filter(Number.isFinite));
    const rss = growth((s) => s.rssBytes);
    const heap = growth((s) => s.heapUsedBytes, lowest);
    const fds = growth((s) => s.openFds);
    const lag = median(samples.map((s) => s.eventLoopLagP99Ms));
    const verdicts: string[] = [];
    if (after.length < 3) {
      verdicts.push(
        `too short to judge growth: ${after.length} samples after the ${warmupS} s warm-up (run ≥ 2 min)`,
      );
    } else {
      if (rss.delta > options.rssBoundMb * 1024 * 1024) {
        verdicts.push(`RSS grew ${mb(rss.delta)} (bound ${options.rssBoundMb} MB)`);
      }
      if (heap.delta > options.heapBoundMb * 1024 * 1024) {
        verdicts.push(`heap grew ${mb(heap.delta)} (bound ${options.heapBoundMb} MB)`);
      }
      if (fds.delta > options.fdBound)
        verdicts.push(`open fds grew ${fds.delta} (bound ${options.fdBound})`);
    }

    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.writeFileSync(
      `${options.out}.csv`,
      `${CSV_COLUMNS.join(',')}\n${samples.map((s) => CSV_COLUMNS.map((c) => String(s[c])).join(',')).join('\n')}\n`,
    );
    const summary = {
      date: new Date().toISOString(),
      node: process.version,
      options,
      gateway: build.label,
      windows: { warmupSeconds: warmupS, baseSamples: base.length, endSamples: end.length },
      growth: { rssBytes: rss, heapUsedBytes: heap, openFds: fds },
      eventLoopLagP99MsMedian: lag,
      traffic: {
        requests: traffic.requests,
        statuses: Object.fromEntries(traffic.statuses),
        logins: traffic.logins,
        loginFailures: Object.fromEntries(traffic.loginFailures),
        logouts: traffic.logouts,
        revokes: traffic.revokes,
        sessionsCutShort: traffic.sessionsCutShort,
        refreshes: samples[samples.length - 1]?.refreshes,
      },
      logLevels: Object.fromEntries(levels),
      failures: traffic.failures,
      verdicts,
      samples,
    };
    fs.writeFileSync(`${options.out}.json`, `${JSON.stringify(summary, null, 2)}\n`);

    say(
      `\nsoak: ${traffic.requests} requests (${histogramLine(traffic.statuses)}), ${traffic.logins} logins, ${traffic.logouts} logouts, ${traffic.revokes} user revokes, ${traffic.sessionsCutShort} sessions ended by a 401, ${String(samples[samples.length - 1]?.refreshes)} token refreshes`,
    );
    say(
      `  RSS ${mb(rss.base)} → ${mb(rss.end)} (${rss.delta >= 0 ? '+' : ''}${mb(rss.delta)}, bound ${options.rssBoundMb} MB); heap used (lowest) ${mb(heap.base)} → ${mb(heap.end)} (${heap.delta >= 0 ? '+' : ''}${mb(heap.delta)}, bound ${options.heapBoundMb} MB); open fds ${fds.base} → ${fds.end} (bound +${options.fdBound}); event-loop lag p99 median ${lag.toFixed(1)} ms`,
    );
    say(
      `  windows: ${base.length} samples after the ${warmupS.toFixed(0)} s warm-up against the last ${end.length}; gateway log lines: ${histogramLine(levels)}`,
    );
    say(`  samples: ${path.relative(process.cwd(), `${options.out}.csv`)} and .json`);
    for (const line of traffic.failures.slice(0, 20)) say(`  FAIL ${line}`);
    if (traffic.failures.length > 20)
      say(`  … ${traffic.failures.length - 20} more failures in the .json`);
    for (const line of verdicts) say(`  FAIL ${line}`);
    const ok = traffic.failures.length === 0 && verdicts.length === 0;
    say(
      `soak: ${ok ? 'PASS' : 'FAIL'} — ${options.minutes} min on ${options.store}, seed ${options.seed}`,
    );
    if (ok) fs.rmSync(dataDir, { recursive: true, force: true });
    else {
      say(`gateway log kept in ${dataDir}`);
      process.exitCode = 1;
    }
  } finally {
    await stopAll();
    build.remove();
  }
}

function randomUuid(rng: Rng): string {
  const hex = rng.string(32, '0123456789abcdef');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

process.once('exit', () => killAllNow());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopAll().then(() => process.exit(130));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof Error && /^(--|unknown option|unexpected argument)/.test(err.message)) {
    process.stderr.write(`${USAGE}\n`);
  }
  process.exitCode = 1;
});
