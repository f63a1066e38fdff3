import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load-config';
import { createLogger } from '../server/logger';
import { startServer } from '../server/http-server';
import { MemorySessionStore } from '../server/memory-session-store';
import { SqliteSessionStore } from '../server/sqlite-session-store';
import {
  DEFAULT_USERS,
  startEmulator,
  type GenesysEmulator,
} from '../test/emulator/genesys-emulator';
import { startHandRolledProxy } from './hand-rolled-proxy';
import type { LoadJob, LoadRequest, LoadResult } from './load-worker';
import { loginSessions } from './login-sessions';

/**
 * `npm run bench [-- --duration N --connections N --sessions N]`: measures the gateway against
 * the emulator on loopback and prints each scenario as a ratio to the references measured in
 * the same run (absolute figures mean little across machines). Exits 1 when any request failed.
 */

interface Options {
  readonly durationSeconds: number;
  readonly connections: number;
  readonly sessions: number;
  readonly warmupSeconds: number;
}

/** What a scenario measures, once its servers are up. */
interface Target {
  readonly url: string;
  readonly requests: LoadRequest[];
  readonly bodyIncludes?: string;
  close(): Promise<void>;
}

interface Scenario {
  readonly id: string;
  readonly title: string;
  setup(emulator: GenesysEmulator, options: Options, dataDir: string): Promise<Target>;
}

interface Measured extends LoadResult {
  readonly id: string;
  readonly title: string;
  /** CPU of the process holding the emulator and the server under test, in % of one core. */
  readonly serverCpuPercent: number;
  /** Machine CPU used by neither that process nor the load worker, in % of one core. */
  readonly otherCpuPercent: number;
}

interface Ratios {
  readonly throughput: number;
  readonly p99: number;
}

const REFERENCE = 'reference';
const PROXY = 'hand-rolled-proxy';
/** Every 2xx body of a GET must be a TokenInfo; checking one field is enough and cheap. */
const TOKEN_INFO_FIELD = '"OAuthClient"';
/** Slack past warm-up + duration before the load worker is killed: no run can hang. */
const WORKER_GRACE_SECONDS = 30;
/** Time for requests still upstream when the load stops, before a server is stopped. */
const SETTLE_MS = 250;
/**
 * CPU used by other processes (% of one core), before the run or during a measured window,
 * above which the figures are flagged: on two cores a neighbour skews every ratio.
 */
const BUSY_WARNING_PERCENT = 15;

function integerOption(
  value: string | undefined,
  name: string,
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new Error(`--${name} must be an integer from 1 to ${max}, not ${JSON.stringify(value)}`);
  }
  return n;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      sessions: { type: 'string' },
      warmup: { type: 'string' },
    },
    strict: true,
  });
  return {
    durationSeconds: integerOption(values.duration, 'duration', 5, 600),
    connections: integerOption(values.connections, 'connections', 32, 1024),
    sessions: integerOption(values.sessions, 'sessions', 100, 10_000),
    warmupSeconds: integerOption(values.warmup, 'warmup', 1, 60),
  };
}

/** The machine's CPU time so far, every core and process, in ms. */
function machineCpu(): { busy: number; all: number } {
  let busy = 0;
  let all = 0;
  for (const { times } of os.cpus()) {
    const used = times.user + times.nice + times.sys + times.irq;
    busy += used;
    all += used + times.idle;
  }
  return { busy, all };
}

/** Machine CPU busy since `since`, in % of one core (2 cores fully busy: 200 %). */
function machineBusySince(since: { busy: number; all: number }): number {
  const now = machineCpu();
  return ((now.busy - since.busy) / Math.max(1, now.all - since.all)) * os.cpus().length * 100;
}

/** A free loopback port: the gateway's public origin (and redirect URI) must be known first. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Bearer tokens minted straight at the emulator, for the scenarios without a gateway. */
function issueTokens(emulator: GenesysEmulator, count: number): string[] {
  const clientId = 'tokens-bff-bench-reference';
  emulator.addClient({ id: clientId, secret: 'unused', name: 'bench', redirectUris: [] });
  return Array.from({ length: count }, (_, i) => {
    const user = DEFAULT_USERS[i % DEFAULT_USERS.length];
    return emulator.issueToken(user?.id ?? '', clientId).access_token;
  });
}

/**
 * The gateway as production builds it (server/main.ts), on the emulator, with `sessions`
 * logged-in sessions; each request of the load cycles through them.
 */
async function gatewayTarget(
  emulator: GenesysEmulator,
  options: Options,
  dataDir: string,
  store: 'memory' | 'sqlite',
  request: { method: 'GET' | 'HEAD'; path: string },
): Promise<Target> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const clientId = `tokens-bff-bench-${port}`;
  const clientSecret = randomBytes(24).toString('base64url');
  emulator.addClient({
    id: clientId,
    secret: clientSecret,
    name: 'tokens-bff bench',
    redirectUris: [`${url}/auth/callback`],
  });
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: url,
    GENESYS_API_BASE_URL: emulator.url,
    GENESYS_LOGIN_BASE_URL: emulator.url,
    OAUTH_CLIENT_ID: clientId,
    OAUTH_CLIENT_SECRET: clientSecret,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    SESSION_STORE: store,
    SESSION_SQLITE_PATH: path.join(dataDir, `sessions-${port}.sqlite`),
    // warn, not silent: a gateway in trouble says why (on stderr, away from the table).
    LOG_LEVEL: 'warn',
  });
  const logger = createLogger(config.logLevel, process.stderr);
  const lifetimes = {
    defaultTtlMs: config.session.idleTimeoutSeconds * 1000,
    absoluteTimeoutMs: config.session.absoluteTimeoutSeconds * 1000,
    logger,
  };
  const sessionStore =
    store === 'sqlite'
      ? new SqliteSessionStore({ path: config.session.sqlitePath, ...lifetimes })
      : new MemorySessionStore(lifetimes);
  const server = await startServer(config, { logger, store: sessionStore }, { drainMs: 1000 });
  try {
    const cookies = await loginSessions({
      gatewayUrl: server.url,
      sessionCookieName: config.session.cookieName,
      emulator,
      users: DEFAULT_USERS,
      count: options.sessions,
    });
    return {
      url: server.url,
      requests: cookies.map((cookie) => ({ ...request, headers: { cookie, 'x-csrf': '1' } })),
      ...(request.method === 'GET' ? { bodyIncludes: TOKEN_INFO_FIELD } : {}),
      close: () => server.stop(),
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

const SCENARIOS: readonly Scenario[] = [
  {
    id: REFERENCE,
    title: 'reference: emulator GET /api/v2/tokens/me',
    async setup(emulator, options) {
      const tokens = issueTokens(emulator, options.sessions);
      return {
        url: emulator.url,
        requests: tokens.map((token) => ({
          method: 'GET',
          path: '/api/v2/tokens/me',
          headers: { authorization: `Bearer ${token}` },
        })),
        bodyIncludes: TOKEN_INFO_FIELD,
        close: async () => {},
      };
    },
  },
  {
    id: PROXY,
    title: 'hand-rolled proxy GET /session',
    async setup(emulator) {
      const [token = ''] = issueTokens(emulator, 1);
      const proxy = await startHandRolledProxy(emulator.url, token);
      return {
        url: proxy.url,
        requests: [{ method: 'GET', path: '/session', headers: {} }],
        bodyIncludes: TOKEN_INFO_FIELD,
        close: () => proxy.close(),
      };
    },
  },
  {
    id: 'get-session-memory',
    title: 'tokens-bff GET /session, memory store',
    setup: (emulator, options, dataDir) =>
      gatewayTarget(emulator, options, dataDir, 'memory', { method: 'GET', path: '/session' }),
  },
  {
    id: 'get-session-sqlite',
    title: 'tokens-bff GET /session, SQLite store',
    setup: (emulator, options, dataDir) =>
      gatewayTarget(emulator, options, dataDir, 'sqlite', { method: 'GET', path: '/session' }),
  },
  {
    id: 'head-session',
    title: 'tokens-bff HEAD /session, memory store',
    setup: (emulator, options, dataDir) =>
      gatewayTarget(emulator, options, dataDir, 'memory', { method: 'HEAD', path: '/session' }),
  },
  {
    id: 'head-session-preserve-idle-ttl',
    title: 'tokens-bff HEAD /session?preserveIdleTTL=true, memory store',
    setup: (emulator, options, dataDir) =>
      gatewayTarget(emulator, options, dataDir, 'memory', {
        method: 'HEAD',
        path: '/session?preserveIdleTTL=true',
      }),
  },
];

/**
 * Runs one load job in a child `node` process. The worker says when the measured run begins, so
 * the servers' CPU is sampled over the same window as the figures.
 */
function runLoad(
  job: LoadJob,
): Promise<{ result: LoadResult; serverCpuPercent: number; otherCpuPercent: number }> {
  const worker = path.join(__dirname, 'load-worker.js');
  const child = spawn(process.execPath, [worker], { stdio: ['pipe', 'pipe', 'inherit'] });
  const limitMs = (job.warmupSeconds + job.durationSeconds + WORKER_GRACE_SECONDS) * 1000;
  return new Promise((resolve, reject) => {
    let output = '';
    let cpuStart: NodeJS.CpuUsage | undefined;
    let machineStart = machineCpu();
    let wallStart = 0n;
    let result:
      { result: LoadResult; serverCpuPercent: number; otherCpuPercent: number } | undefined;
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`load worker still running after ${limitMs / 1000} s; killed`));
    }, limitMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      let newline = output.indexOf('\n');
      while (newline >= 0) {
        const line = output.slice(0, newline);
        output = output.slice(newline + 1);
        newline = output.indexOf('\n');
        let message: { event: 'measuring' } | { event: 'done'; result: LoadResult };
        try {
          message = JSON.parse(line) as typeof message;
        } catch {
          child.kill('SIGKILL');
          reject(new Error(`load worker wrote something other than JSON: ${line.slice(0, 200)}`));
          return;
        }
        if (message.event === 'measuring') {
          cpuStart = process.cpuUsage();
          machineStart = machineCpu();
          wallStart = process.hrtime.bigint();
        } else {
          const cpu = process.cpuUsage(cpuStart);
          const machine = machineBusySince(machineStart);
          const seconds = Number(process.hrtime.bigint() - wallStart) / 1e9;
          const serverCpuPercent = ((cpu.user + cpu.system) / 1e6 / seconds) * 100;
          result = {
            result: message.result,
            serverCpuPercent,
            // What neither the servers nor the loader used: kernel work not charged to them,
            // and any neighbour. Near 0 on a quiet machine.
            otherCpuPercent: Math.max(
              0,
              machine - serverCpuPercent - message.result.loaderCpuPercent,
            ),
          };
        }
      }
    });
    child.on('error', (err) => {
      clearTimeout(killer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`load worker exited with code ${String(code)} and no result`));
    });
    child.stdin.end(JSON.stringify(job));
  });
}

function ratios(scenario: Measured, base: Measured | undefined): Ratios | undefined {
  if (base === undefined || base.requestsPerSecond === 0 || base.p99Ms === 0) return undefined;
  return {
    throughput: scenario.requestsPerSecond / base.requestsPerSecond,
    p99: scenario.p99Ms / base.p99Ms,
  };
}

function failures(m: Measured): number {
  // autocannon counts timeouts among errors already.
  return m.errors + m.non2xx + m.mismatches + (m.responses === 0 ? 1 : 0);
}

function table(rows: readonly Measured[]): string {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ratio = (n: number | undefined): string => (n === undefined ? '—' : `${n.toFixed(2)}×`);
  const header = [
    'scenario',
    'req/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'non-2xx',
    'bad body',
    'req/s ÷ ref',
    'p99 ÷ ref',
    'req/s ÷ proxy',
    'p99 ÷ proxy',
    'server CPU',
    'loader CPU',
    'other CPU',
  ];
  const lines = rows.map((r) => {
    const vsRef = ratios(r, byId.get(REFERENCE));
    const vsProxy = ratios(r, byId.get(PROXY));
    return [
      r.title,
      r.requestsPerSecond.toFixed(0),
      r.p50Ms.toFixed(2),
      r.p99Ms.toFixed(2),
      String(r.errors),
      String(r.non2xx),
      String(r.mismatches),
      ratio(vsRef?.throughput),
      ratio(vsRef?.p99),
      ratio(vsProxy?.throughput),
      ratio(vsProxy?.p99),
      `${r.serverCpuPercent.toFixed(0)} %`,
      `${r.loaderCpuPercent.toFixed(0)} %`,
      `${r.otherCpuPercent.toFixed(0)} %`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const row = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [row(header), rule, ...lines.map(row)].join('\n');
}

async function main(): Promise<void> {
  const began = process.hrtime.bigint();
  const options = parseOptions(process.argv.slice(2));
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  say(
    `tokens-bff bench: ${options.connections} connections, ${options.warmupSeconds} s warm-up + ` +
      `${options.durationSeconds} s per scenario, ${options.sessions} sessions; node ` +
      `${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), loopback`,
  );

  // Two cores leave no room for a neighbour: a test suite running meanwhile skews every ratio.
  const idleCheck = machineCpu();
  await delay(1000);
  const busyBefore = machineBusySince(idleCheck);
  say(`machine CPU busy in the second before the run: ${busyBefore.toFixed(0)} % of one core`);
  if (busyBefore > BUSY_WARNING_PERCENT) {
    say('WARNING: something else is using the CPU; these figures are not comparable.');
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-bench-'));
  // Real time: the gateway's clock and the emulator's agree, as they would in production.
  const emulator = await startEmulator({ realTime: true });
  // The emulator records every request for tests; over a benchmark that log only grows.
  const forget = setInterval(() => emulator.clearRequests(), 500);
  const measured: Measured[] = [];
  try {
    for (const scenario of SCENARIOS) {
      const target = await scenario.setup(emulator, options, dataDir);
      try {
        const { result, serverCpuPercent, otherCpuPercent } = await runLoad({
          url: target.url,
          requests: target.requests,
          connections: options.connections,
          durationSeconds: options.durationSeconds,
          warmupSeconds: options.warmupSeconds,
          ...(target.bodyIncludes === undefined ? {} : { bodyIncludes: target.bodyIncludes }),
        });
        const m: Measured = {
          id: scenario.id,
          title: scenario.title,
          ...result,
          serverCpuPercent,
          otherCpuPercent,
        };
        measured.push(m);
        say(
          `  ${scenario.title}: ${m.requestsPerSecond.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(2)} ms` +
            (failures(m) > 0 ? `, FAILED (status codes ${JSON.stringify(m.statusCodes)})` : ''),
        );
      } finally {
        // autocannon drops its sockets at the deadline with requests still upstream. The
        // gateway's stop() does not wait for requests whose client has gone, so they would
        // touch a closed store (a 503 logged at error level): let them finish first.
        await delay(SETTLE_MS);
        await target.close();
      }
    }
  } finally {
    clearInterval(forget);
    await emulator.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  say('');
  say(table(measured));
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  say('');
  say(
    `ratios against this run's reference and hand-rolled proxy; run took ${seconds.toFixed(1)} s`,
  );

  const byId = new Map(measured.map((m) => [m.id, m]));
  const resultsDir = path.resolve(__dirname, '../../bench/results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, 'latest.json');
  fs.writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        options,
        machineBusyPercentBefore: busyBefore,
        runSeconds: seconds,
        scenarios: measured.map((m) => ({
          ...m,
          vsReference: ratios(m, byId.get(REFERENCE)),
          vsHandRolledProxy: ratios(m, byId.get(PROXY)),
        })),
      },
      null,
      2,
    )}\n`,
  );
  say(`results: ${path.relative(process.cwd(), file)}`);

  const crowded = measured.filter((m) => m.otherCpuPercent > BUSY_WARNING_PERCENT);
  if (crowded.length > 0) {
    say(
      `WARNING: other CPU above ${BUSY_WARNING_PERCENT} % in ${crowded.map((m) => m.id).join(', ')}: ` +
        'something else ran meanwhile; run again on a quiet machine.',
    );
  }
  const failed = measured.filter((m) => failures(m) > 0);
  if (failed.length > 0) {
    say(`FAILED: errors or non-2xx answers in ${failed.map((m) => m.id).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
