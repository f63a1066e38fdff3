import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { mintToken } from './bench-tokens';
import { defaultBaselineRef, describeHead, prepareBaseline, type Baseline } from './baseline';
import type { LoginJob, LoginResult } from './login-loader';
import { parseOptions, USAGE, type Group, type Options } from './options';
import {
  CLOCK_TICKS,
  cpuTicks,
  firstJsonLine,
  freePort,
  haveCommand,
  killAllNow,
  machineBusySince,
  machineCpu,
  rssBytes,
  start,
  stop,
  stopAll,
  throwawayRedisArgs,
  waitFor200,
} from './procs';
import { report, type CaseSummary, type WindowFigures } from './report';
import {
  productModules,
  sidOfCookieValue,
  type InspectResult,
  type SeedJob,
  type SeedResult,
} from './seed-sessions';
import { runWrk, type WrkResult } from './wrk';

/**
 * `npm run bench`: the gateway as production runs it (`node dist/server/main.js`, its own
 * process, SQLite and Redis stores, LOG_LEVEL info and warn), against a lean upstream process,
 * loaded by wrk (another process), beside two references measured in the same run and, in A/B
 * mode, the gateway built from another commit. Interleaved rounds, medians. See
 * docs/performance.md. Exits 1 when any request failed.
 */

const REPO = path.resolve(__dirname, '../..');
const CURRENT_DIST = path.resolve(__dirname, '..');
/** Every 2xx body of a GET must be a TokenInfo; checking one field is enough and cheap. */
const TOKEN_INFO_FIELD = '"OAuthClient"';
/** CPU used by other processes during a window (% of one core) above which it is flagged. */
const BUSY_WARNING_PERCENT = 15;
/** Time for requests still in flight when the load stops, before a server is stopped. */
const SETTLE_MS = 200;
const C256 = 256;

type LogLevel = 'info' | 'warn';
type StoreKind = 'sqlite' | 'redis';

interface Build {
  readonly id: 'current' | 'baseline';
  readonly label: string;
  readonly distRoot: string;
  /** Why sessions cannot be seeded into this build's stores, when they cannot. */
  seedProblem: string | undefined;
  /** How a real login's session and a seeded one differ, when they do. */
  readonly shapeNotes: string[];
}

interface StoreSpec {
  readonly id: string;
  readonly build: Build;
  readonly kind: StoreKind;
  readonly sqlitePath: string;
  readonly redisDb: number;
  readonly cookiesFile: string;
  sessions: number;
  storeBytes: number | undefined;
  seedSeconds: number | undefined;
}

type TargetKind = 'express-floor' | 'careful-express' | 'gateway';

interface Target {
  readonly id: string;
  readonly kind: TargetKind;
  readonly build: Build | undefined;
  readonly store: StoreSpec | undefined;
  readonly logLevel: LogLevel | undefined;
  readonly port: number;
}

interface Scenario {
  readonly id: string;
  readonly group: Group;
  readonly title: string;
  readonly kind: 'http' | 'login';
  readonly method: 'GET' | 'HEAD';
  readonly path: string;
  readonly connections: number;
  /** The express-floor row this scenario's ratios use. */
  readonly floorScenario: string | undefined;
  readonly sessionCount: number | undefined;
  readonly targets: Target[];
}

export interface Sample extends WindowFigures {
  readonly round: number;
  readonly requests: number;
  readonly seconds: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly badBody: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly logWarnings: number;
}

interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  readonly cookiesFile: string;
  readonly logFile: string | undefined;
}

interface Infra {
  readonly dataDir: string;
  readonly tokenKey: Buffer;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly sessionSecret: string;
  readonly upstreamUrl: string;
  readonly upstream: ChildProcess;
  readonly redis: { child: ChildProcess; port: number } | undefined;
  /** `--cpu-prof DIR`: gateways write V8 CPU profiles under it, a folder per target. */
  readonly cpuProfDir: string | undefined;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function fail(message: string): never {
  throw new Error(message);
}

// ---------------------------------------------------------------------------------------------
// Infrastructure: the lean upstream, redis-server

async function startUpstream(
  tokenKey: Buffer,
  clientId: string,
  clientSecret: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = start(
    process.execPath,
    [
      path.join(__dirname, 'upstream.js'),
      JSON.stringify({ port: 0, tokenKey: tokenKey.toString('base64'), clientId, clientSecret }),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const { port } = await firstJsonLine<{ port: number }>(child, 'lean upstream');
  return { child, url: `http://127.0.0.1:${port}` };
}

function redisCli(port: number, args: string[]): string {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

function redisUsedMemory(port: number): number {
  const match = /^used_memory:(\d+)/m.exec(redisCli(port, ['info', 'memory']));
  return match ? Number(match[1]) : 0;
}

async function startRedis(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = start(
    'redis-server',
    ['--port', String(port), ...throwawayRedisArgs(dir), '--databases', '16'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) fail(`redis-server exited with code ${child.exitCode}`);
    try {
      if (redisCli(port, ['ping']).trim() === 'PONG') return { child, port };
    } catch {
      // not up yet
    }
    await delay(50);
  }
  return fail('redis-server did not answer PING within 10 s');
}

// ---------------------------------------------------------------------------------------------
// Targets: start, stop

function gatewayEnv(infra: Infra, store: StoreSpec, port: number, logLevel: LogLevel) {
  const url = `http://127.0.0.1:${port}`;
  return {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: url,
    GENESYS_API_BASE_URL: infra.upstreamUrl,
    GENESYS_LOGIN_BASE_URL: infra.upstreamUrl,
    OAUTH_CLIENT_ID: infra.clientId,
    OAUTH_CLIENT_SECRET: infra.clientSecret,
    SESSION_SECRET: infra.sessionSecret,
    SESSION_STORE: store.kind,
    ...(store.kind === 'sqlite'
      ? { SESSION_SQLITE_PATH: store.sqlitePath }
      : { REDIS_URL: `redis://127.0.0.1:${infra.redis?.port ?? 0}/${store.redisDb}` }),
    LOG_LEVEL: logLevel,
  };
}

/** The gateway exactly as production starts it: `node dist/server/main.js` with its environment. */
async function startGateway(
  infra: Infra,
  build: Build,
  store: StoreSpec,
  port: number,
  logLevel: LogLevel,
): Promise<Running> {
  const logFile = path.join(infra.dataDir, `gateway-${port}.log`);
  const log = fs.openSync(logFile, 'w');
  // Profiled gateways run with `--cpu-prof`, written when they exit on SIGTERM.
  const profile =
    infra.cpuProfDir === undefined
      ? []
      : [
          '--cpu-prof',
          `--cpu-prof-dir=${path.join(infra.cpuProfDir, `${build.id}-${store.kind}-${logLevel}`)}`,
        ];
  const child = start(process.execPath, [...profile, path.join(build.distRoot, 'server/main.js')], {
    env: gatewayEnv(infra, store, port, logLevel),
    cwd: infra.dataDir,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor200(`${url}/readyz`, child, `gateway (${build.id}, ${store.kind})`);
  } catch (err) {
    await stop(child);
    const tail = fs.readFileSync(logFile, 'utf8').slice(-1500);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tail}`);
  }
  return { child, url, cookiesFile: store.cookiesFile, logFile };
}

/** A reference; its sessions (in its memory) are made again at each start through /bench/login. */
async function startReference(infra: Infra, target: Target, sessions: number): Promise<Running> {
  const file = target.kind === 'express-floor' ? 'express-floor.js' : 'careful-express.js';
  const child = start(
    process.execPath,
    [
      path.join(__dirname, 'refs', file),
      JSON.stringify({
        port: target.port,
        upstreamUrl: infra.upstreamUrl,
        secret: infra.sessionSecret,
      }),
    ],
    { env: { NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // MemoryStore warns on stderr in production; read it so the pipe never fills.
  child.stderr?.resume();
  await firstJsonLine<{ port: number }>(child, target.id);
  child.stdout?.resume();
  const url = `http://127.0.0.1:${target.port}`;
  const cookies: string[] = [];
  for (let i = 0; i < sessions; i += 1) {
    const res = await fetch(`${url}/bench/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf': '1' },
      body: JSON.stringify({ token: mintToken(infra.tokenKey, 'bench', `ref${i}-1`) }),
    });
    await res.arrayBuffer();
    const line = res.headers.getSetCookie().find((l) => l.startsWith('sid='));
    if (res.status !== 204 || line === undefined) {
      await stop(child);
      fail(`${target.id}: /bench/login answered ${res.status}`);
    }
    cookies.push(line.slice(0, line.indexOf(';')));
  }
  const cookiesFile = path.join(infra.dataDir, `cookies-${target.id}.txt`);
  fs.writeFileSync(cookiesFile, `${cookies.join('\n')}\n`);
  return { child, url, cookiesFile, logFile: undefined };
}

async function startTarget(infra: Infra, target: Target, options: Options): Promise<Running> {
  if (target.kind === 'gateway') {
    return startGateway(
      infra,
      target.build as Build,
      target.store as StoreSpec,
      target.port,
      target.logLevel ?? 'info',
    );
  }
  return startReference(infra, target, options.sessions);
}

/** Lines at warn level or above in a gateway's log, and the first few messages. */
function logWarnings(
  file: string | undefined,
  from = 0,
): { count: number; messages: string[]; end: number } {
  if (file === undefined || !fs.existsSync(file)) return { count: 0, messages: [], end: from };
  const bytes = fs.readFileSync(file);
  // From the start of the window (a whole line: the offset was the file's end then).
  const text = bytes.subarray(Math.min(from, bytes.length)).toString('utf8');
  let count = 0;
  const messages = new Set<string>();
  for (const line of text.split('\n')) {
    // pino's JSON lines at warn and above, and anything that is not a JSON line (a crash).
    const notable = line.startsWith('{') ? /"level":"(warn|error|fatal)"/.test(line) : line !== '';
    if (!notable) continue;
    count += 1;
    if (messages.size < 3) {
      let message = line.slice(0, 200);
      try {
        const parsed = JSON.parse(line) as {
          level?: string;
          msg?: string;
          err?: { message?: string };
        };
        message = `${parsed.level ?? '?'}: ${parsed.msg ?? ''}${parsed.err?.message ? ` (${parsed.err.message})` : ''}`;
      } catch {
        // not JSON: the raw line
      }
      messages.add(message);
    }
  }
  return { count, messages: [...messages], end: bytes.length };
}

// ---------------------------------------------------------------------------------------------
// Sessions: real logins, seeding, shape check

function runChild<T>(script: string, job: object, what: string, timeoutMs: number): Promise<T> {
  const child = start(process.execPath, [path.join(__dirname, script), JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-3000);
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(killer);
      const lines = stdout.trim().split('\n');
      const last = lines[lines.length - 1] ?? '';
      if (code !== 0) {
        reject(new Error(`${what} failed (exit ${String(code)}): ${stderr.trim()}`));
        return;
      }
      try {
        const parsed = JSON.parse(last) as { event?: string; result?: T };
        resolve((parsed.event === 'done' ? parsed.result : parsed) as T);
      } catch {
        reject(new Error(`${what} wrote something other than JSON: ${last.slice(0, 200)}`));
      }
    });
  });
}

/** The session cookie's name, from the build's own config loader (bff.sid over plain http). */
function cookieNameOf(infra: Infra, store: StoreSpec): string {
  try {
    const load = createRequire(__filename);
    const { loadConfig } = load(path.join(store.build.distRoot, 'config/load-config.js')) as {
      loadConfig: (env: Record<string, string>) => { session: { cookieName: string } };
    };
    return loadConfig(gatewayEnv(infra, store, 1, 'warn')).session.cookieName;
  } catch {
    return 'bff.sid';
  }
}

function seedJob(infra: Infra, store: StoreSpec, extra: Partial<SeedJob>): SeedJob {
  return {
    mode: 'seed',
    distRoot: store.build.distRoot,
    // The port only shapes PUBLIC_BASE_URL, which the seeding does not use.
    env: gatewayEnv(infra, store, 1, 'warn'),
    tokenKey: infra.tokenKey.toString('base64'),
    ...extra,
  };
}

/** Real logins through a gateway on `store`: the sessions of the get, head and c256 scenarios. */
async function loginSessions(infra: Infra, store: StoreSpec, count: number): Promise<void> {
  const port = await freePort();
  const gateway = await startGateway(infra, store.build, store, port, 'warn');
  try {
    const job: LoginJob = {
      mode: 'collect',
      gatewayUrl: gateway.url,
      sessionCookieName: cookieNameOf(infra, store),
      concurrency: 4,
      count,
      cookiesFile: store.cookiesFile,
    };
    const result = await runChild<LoginResult>('login-loader.js', job, 'login collection', 180_000);
    if (result.logins !== count || !result.sessionWorks) {
      fail(
        `${store.id}: ${result.logins} of ${count} logins worked (${JSON.stringify(result.failuresBy)})` +
          `${result.sessionWorks ? '' : '; a new session did not answer GET /session with a TokenInfo'}`,
      );
    }
    store.sessions = count;
  } finally {
    await stop(gateway.child);
  }
}

/** Compares a real login's session with a seeded one; a baseline that differs is not seeded. */
async function checkShape(infra: Infra, store: StoreSpec): Promise<void> {
  const first = fs.readFileSync(store.cookiesFile, 'utf8').split('\n')[0] ?? '';
  const sid = sidOfCookieValue(first.slice(first.indexOf('=') + 1));
  if (sid === undefined) fail(`${store.id}: cannot read the session id of ${first}`);
  let result: InspectResult;
  try {
    result = await runChild<InspectResult>(
      'seed-sessions.js',
      seedJob(infra, store, { mode: 'inspect', sid }),
      'session shape check',
      60_000,
    );
  } catch (err) {
    store.build.seedProblem = err instanceof Error ? err.message : String(err);
    return;
  }
  if (!result.same) {
    // Still measured: the pre-flight of every window proves seeded cookies answer 200.
    const parts = [
      result.missing.length > 0 ? `seeded sessions lack ${result.missing.join(', ')}` : '',
      result.extra.length > 0
        ? `seeded sessions have ${result.extra.join(', ')} that real ones do not`
        : '',
      result.differentType.length > 0 ? `types differ at ${result.differentType.join(', ')}` : '',
    ].filter(Boolean);
    const line = `a real ${store.kind} session of ${store.build.id} and a seeded one differ: ${parts.join('; ')}`;
    store.build.shapeNotes.push(line);
    say(
      `  ${result.missing.length > 0 && store.build.id === 'current' ? 'WARNING' : 'note'}: ${line} (bench/seed-sessions.ts seededSessionRecord)`,
    );
  }
}

async function seedStore(infra: Infra, store: StoreSpec, count: number): Promise<void> {
  const before =
    store.kind === 'redis' && infra.redis ? redisUsedMemory(infra.redis.port) : undefined;
  const result = await runChild<SeedResult>(
    'seed-sessions.js',
    seedJob(infra, store, {
      count,
      tag: `${store.id.replace(/[^A-Za-z0-9]/g, '')}x`,
      cookiesFile: store.cookiesFile,
    }),
    `seeding ${store.id}`,
    600_000,
  );
  store.sessions = count;
  store.seedSeconds = result.seconds;
  if (store.kind === 'sqlite') {
    const size = (f: string): number => (fs.existsSync(f) ? fs.statSync(f).size : 0);
    store.storeBytes = size(store.sqlitePath) + size(`${store.sqlitePath}-wal`);
  } else if (infra.redis && before !== undefined) {
    store.storeBytes = Math.max(0, redisUsedMemory(infra.redis.port) - before);
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** GET /session (and the scenario's own request) with a few cookies must answer 200 and a TokenInfo. */
async function preflight(running: Running, scenario: Scenario): Promise<string | undefined> {
  const cookies = fs.readFileSync(running.cookiesFile, 'utf8').split('\n').filter(Boolean);
  const picks = [...new Set([0, Math.floor(cookies.length / 2), cookies.length - 1])];
  for (const i of picks) {
    const cookie = cookies[i] as string;
    const res = await fetch(`${running.url}/session`, {
      headers: { cookie, 'x-csrf': '1' },
      signal: AbortSignal.timeout(5000),
    });
    const body = await res.text();
    if (res.status !== 200 || !body.includes(TOKEN_INFO_FIELD)) {
      return `pre-flight GET /session with cookie #${i + 1} answered ${res.status}: ${body.slice(0, 200)}`;
    }
  }
  if (scenario.method === 'HEAD') {
    const res = await fetch(`${running.url}${scenario.path}`, {
      method: 'HEAD',
      headers: { cookie: cookies[0] as string, 'x-csrf': '1' },
      signal: AbortSignal.timeout(5000),
    });
    if (res.status !== 200) return `pre-flight HEAD ${scenario.path} answered ${res.status}`;
  }
  return undefined;
}

interface Window {
  targetTicks: number;
  upstreamTicks: number;
  redisTicks: number;
  machine: { busy: number; all: number };
  at: bigint;
}

function openWindow(infra: Infra, running: Running): Window {
  return {
    targetTicks: cpuTicks(running.child.pid),
    upstreamTicks: cpuTicks(infra.upstream.pid),
    redisTicks: cpuTicks(infra.redis?.child.pid),
    machine: machineCpu(),
    at: process.hrtime.bigint(),
  };
}

function closeWindow(infra: Infra, running: Running, w: Window) {
  const wall = Number(process.hrtime.bigint() - w.at) / 1e9;
  const pct = (ticks: number): number => (ticks / CLOCK_TICKS / wall) * 100;
  return {
    wall,
    targetCpuSeconds: (cpuTicks(running.child.pid) - w.targetTicks) / CLOCK_TICKS,
    targetCpuPercent: pct(cpuTicks(running.child.pid) - w.targetTicks),
    upstreamCpuPercent: pct(cpuTicks(infra.upstream.pid) - w.upstreamTicks),
    redisCpuPercent: infra.redis ? pct(cpuTicks(infra.redis.child.pid) - w.redisTicks) : 0,
    machinePercent: machineBusySince(w.machine),
    rss: rssBytes(running.child.pid),
  };
}

function wrkFailures(w: WrkResult): number {
  return w.connectErrors + w.readErrors + w.writeErrors + w.timeouts + w.non2xx + w.badBody;
}

async function measureHttp(
  infra: Infra,
  options: Options,
  scenario: Scenario,
  running: Running,
  round: number,
  warmUp: boolean,
): Promise<{ sample: Sample; problems: string[] }> {
  const problems: string[] = [];
  const job = {
    url: running.url,
    method: scenario.method,
    path: scenario.path,
    cookiesFile: running.cookiesFile,
    connections: scenario.connections,
    ...(scenario.method === 'GET' ? { bodyIncludes: TOKEN_INFO_FIELD } : {}),
  };
  if (warmUp && options.warmupSeconds > 0) {
    const warm = await runWrk({ ...job, seconds: options.warmupSeconds });
    if (wrkFailures(warm) > 0 || warm.requests === 0) {
      problems.push(`warm-up: ${describeWrkFailures(warm)}`);
    }
  }
  const window = openWindow(infra, running);
  const w = await runWrk({ ...job, seconds: options.durationSeconds });
  const closed = closeWindow(infra, running, window);
  const loaderCpuPercent = (w.loaderCpuSeconds / closed.wall) * 100;
  const ours =
    closed.targetCpuPercent + closed.upstreamCpuPercent + closed.redisCpuPercent + loaderCpuPercent;
  if (w.requests === 0) problems.push('no request completed');
  return {
    problems,
    sample: {
      round,
      requests: w.requests,
      seconds: w.seconds,
      perSecond: w.requests / w.seconds,
      p50Ms: w.p50Ms,
      p99Ms: w.p99Ms,
      maxMs: w.maxMs,
      cpuUsPerRequest: w.requests > 0 ? (closed.targetCpuSeconds * 1e6) / w.requests : 0,
      targetCpuPercent: closed.targetCpuPercent,
      upstreamCpuPercent: closed.upstreamCpuPercent,
      redisCpuPercent: closed.redisCpuPercent,
      loaderCpuPercent,
      otherCpuPercent: Math.max(0, closed.machinePercent - ours),
      rssBytes: closed.rss,
      errors: w.connectErrors + w.readErrors + w.writeErrors,
      timeouts: w.timeouts,
      non2xx: w.non2xx,
      badBody: w.badBody,
      setCookiePercent: w.requests > 0 ? (w.setCookie / w.requests) * 100 : 0,
      failures: {},
      logWarnings: 0,
    },
  };
}

function describeWrkFailures(w: WrkResult): string {
  return (
    `${w.requests} requests, ${w.connectErrors} connect / ${w.readErrors} read / ` +
    `${w.writeErrors} write errors, ${w.timeouts} timeouts, ${w.non2xx} non-2xx, ${w.badBody} bad bodies`
  );
}

/** Runs the login loader; samples the gateway's CPU between its `measuring` and `done` lines. */
function measureLogin(
  infra: Infra,
  options: Options,
  store: StoreSpec,
  running: Running,
  round: number,
): Promise<{ sample: Sample; problems: string[] }> {
  const job: LoginJob = {
    mode: 'load',
    gatewayUrl: running.url,
    sessionCookieName: cookieNameOf(infra, store),
    concurrency: options.loginConcurrency,
    warmupSeconds: options.warmupSeconds,
    durationSeconds: options.durationSeconds,
  };
  const child = start(
    process.execPath,
    [path.join(__dirname, 'login-loader.js'), JSON.stringify(job)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const limitMs = (options.warmupSeconds + options.durationSeconds + 40) * 1000;
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    let window: Window | undefined;
    let outcome: { sample: Sample; problems: string[] } | undefined;
    const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-2000);
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const message = JSON.parse(line) as { event: string; result?: LoginResult };
        if (message.event === 'measuring') {
          window = openWindow(infra, running);
        } else if (message.event === 'done' && window && message.result) {
          const r = message.result;
          const closed = closeWindow(infra, running, window);
          const ours =
            closed.targetCpuPercent +
            closed.upstreamCpuPercent +
            closed.redisCpuPercent +
            r.loaderCpuPercent;
          const problems: string[] = [];
          if (r.logins === 0) problems.push('no login completed');
          if (!r.sessionWorks)
            problems.push('a new session did not answer GET /session with a TokenInfo');
          outcome = {
            problems,
            sample: {
              round,
              requests: r.logins,
              seconds: r.seconds,
              perSecond: r.loginsPerSecond,
              p50Ms: r.p50Ms,
              p99Ms: r.p99Ms,
              maxMs: r.maxMs,
              cpuUsPerRequest: r.logins > 0 ? (closed.targetCpuSeconds * 1e6) / r.logins : 0,
              targetCpuPercent: closed.targetCpuPercent,
              upstreamCpuPercent: closed.upstreamCpuPercent,
              redisCpuPercent: closed.redisCpuPercent,
              loaderCpuPercent: r.loaderCpuPercent,
              otherCpuPercent: Math.max(0, closed.machinePercent - ours),
              rssBytes: closed.rss,
              errors: 0,
              timeouts: 0,
              non2xx: r.failures,
              badBody: r.sessionWorks ? 0 : 1,
              setCookiePercent: 100,
              failures: r.failuresBy,
              logWarnings: 0,
            },
          };
        }
      }
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      if (code === 0 && outcome) resolve(outcome);
      else reject(new Error(`login loader exited with code ${String(code)}: ${stderr.trim()}`));
    });
  });
}

interface CaseState {
  readonly scenario: Scenario;
  readonly target: Target;
  readonly samples: Sample[];
  /** Failures: the run exits 1. */
  readonly problems: string[];
  /** Worth a look, not a failed request: gateway log lines at warn, an unclean exit. */
  readonly notes: string[];
}

/** A target's process, kept for the rest of the round once started. */
interface Pooled {
  readonly running: Running;
  /** Whether it has had load already (its warm-up); a fresh process gets one first. */
  warm: boolean;
  /** Where its log stood at the end of its last window. */
  logOffset: number;
}

/**
 * The processes of one round: each target starts once per round, when first needed, and serves
 * every scenario of the round it is in (get, head, c256 share the gateways of the small
 * stores); all stop with SIGTERM at the end of the round. Saves a start and a warm-up per window.
 */
type Pool = Map<string, Pooled>;

async function stopPooled(
  pooled: Pooled,
  target: Target,
  notes: string[],
  round: number,
): Promise<void> {
  await delay(SETTLE_MS);
  const code = await stop(pooled.running.child, 15_000);
  if (target.kind === 'gateway' && code !== 0) {
    notes.push(`round ${round}: the gateway exited with code ${String(code)} on SIGTERM`);
  }
  const warnings = logWarnings(pooled.running.logFile, pooled.logOffset);
  if (warnings.count > 0) {
    notes.push(
      `round ${round}: ${warnings.count} gateway log lines at warn or above after its last window, e.g. ${warnings.messages.join(' | ')}`,
    );
  }
  if (pooled.running.logFile) fs.rmSync(pooled.running.logFile, { force: true });
}

async function measureCase(
  infra: Infra,
  options: Options,
  state: CaseState,
  round: number,
  pool: Pool,
): Promise<Sample | undefined> {
  const { scenario, target } = state;
  let pooled = pool.get(target.id);
  let result: { sample: Sample; problems: string[] } | undefined;
  try {
    if (!pooled) {
      pooled = { running: await startTarget(infra, target, options), warm: false, logOffset: 0 };
      pool.set(target.id, pooled);
    }
    const { running } = pooled;
    if (scenario.kind === 'http') {
      const problem = await preflight(running, scenario);
      if (problem) {
        state.problems.push(`round ${round}: ${problem}`);
        return undefined;
      }
      result = await measureHttp(infra, options, scenario, running, round, !pooled.warm);
    } else {
      result = await measureLogin(infra, options, target.store as StoreSpec, running, round);
    }
    pooled.warm = true;
  } catch (err) {
    state.problems.push(`round ${round}: ${err instanceof Error ? err.message : String(err)}`);
    // A process in an unknown state is not reused.
    if (pooled) {
      pool.delete(target.id);
      await stopPooled(pooled, target, state.notes, round);
    }
    return undefined;
  }
  const warnings = logWarnings(pooled.running.logFile, pooled.logOffset);
  pooled.logOffset = warnings.end;
  if (warnings.count > 0) {
    state.notes.push(
      `round ${round}: ${warnings.count} gateway log lines at warn or above, e.g. ${warnings.messages.join(' | ')}`,
    );
  }
  for (const p of result.problems) state.problems.push(`round ${round}: ${p}`);
  const sample = { ...result.sample, logWarnings: warnings.count };
  state.samples.push(sample);
  return sample;
}

// ---------------------------------------------------------------------------------------------
// The plan: builds, stores, targets, scenarios

function targetTitle(target: Target): string {
  if (target.kind !== 'gateway') return target.kind;
  const build = target.build as Build;
  return `tokens-bff ${build.id === 'baseline' ? 'baseline' : 'current'} ${(target.store as StoreSpec).kind} ${target.logLevel}`;
}

async function plan(
  infra: Infra,
  options: Options,
  builds: Build[],
): Promise<{ scenarios: Scenario[]; stores: StoreSpec[] }> {
  const stores: StoreSpec[] = [];
  let nextDb = 0;
  const makeStore = (build: Build, kind: StoreKind, purpose: string): StoreSpec => {
    const id = `${build.id}-${kind}-${purpose}`;
    const store: StoreSpec = {
      id,
      build,
      kind,
      sqlitePath: path.join(infra.dataDir, `${id}.sqlite`),
      redisDb: kind === 'redis' ? nextDb++ : 0,
      cookiesFile: path.join(infra.dataDir, `cookies-${id}.txt`),
      sessions: 0,
      storeBytes: undefined,
      seedSeconds: undefined,
    };
    if (store.redisDb > 15) fail('more Redis stores than Redis databases (16)');
    stores.push(store);
    return store;
  };
  const kinds: StoreKind[] = [...options.stores];
  const ports = new Map<string, number>();
  const portOf = async (id: string): Promise<number> => {
    const known = ports.get(id);
    if (known !== undefined) return known;
    const port = await freePort();
    ports.set(id, port);
    return port;
  };
  const reference = async (kind: 'express-floor' | 'careful-express'): Promise<Target> => ({
    id: kind,
    kind,
    build: undefined,
    store: undefined,
    logLevel: undefined,
    port: await portOf(kind),
  });
  const gateway = async (build: Build, store: StoreSpec, logLevel: LogLevel): Promise<Target> => {
    // One process per store and log level: the id keys the round's process pool.
    const id = `${store.id}-${logLevel}`;
    return { id, kind: 'gateway', build, store, logLevel, port: await portOf(id) };
  };

  // An older baseline may not have a store yet (Redis came later): it runs without it.
  const has = (build: Build, kind: StoreKind): boolean =>
    productModules(kind, build.distRoot).every((m) => fs.existsSync(path.join(build.distRoot, m)));
  for (const build of builds) {
    for (const kind of kinds) {
      if (!has(build, kind))
        say(`note: ${build.id} has no ${kind} store; its ${kind} targets are left out`);
    }
  }
  const small = new Map<string, StoreSpec>();
  const needSmall = ['get', 'head', 'c256'].some((g) => options.only.has(g as Group));
  if (needSmall) {
    for (const build of builds) {
      for (const kind of kinds) {
        if (has(build, kind)) small.set(`${build.id}-${kind}`, makeStore(build, kind, 'small'));
      }
    }
  }
  const smallOf = (build: Build, kind: StoreKind): StoreSpec =>
    small.get(`${build.id}-${kind}`) as StoreSpec;
  // Interleaved per variant: current then baseline, side by side in every round.
  const gateways = async (levels: LogLevel[]): Promise<Target[]> => {
    const list: Target[] = [];
    for (const kind of kinds) {
      for (const level of levels) {
        for (const build of builds) {
          if (has(build, kind)) list.push(await gateway(build, smallOf(build, kind), level));
        }
      }
    }
    return list;
  };

  const scenarios: Scenario[] = [];
  const http = (
    id: string,
    group: Group,
    title: string,
    method: 'GET' | 'HEAD',
    urlPath: string,
    connections: number,
    floorScenario: string | undefined,
    targets: Target[],
  ): Scenario => ({
    id,
    group,
    title,
    kind: 'http',
    method,
    path: urlPath,
    connections,
    floorScenario,
    sessionCount: undefined,
    targets,
  });
  const refs = async (): Promise<Target[]> => [
    await reference('express-floor'),
    await reference('careful-express'),
  ];
  const c = options.connections;
  if (options.only.has('get')) {
    scenarios.push(
      http('get', 'get', `GET /session, ${c} conns`, 'GET', '/session', c, 'get', [
        ...(await refs()),
        ...(await gateways([...options.levels])),
      ]),
    );
  }
  if (options.only.has('head')) {
    scenarios.push(
      http('head', 'head', `HEAD /session, ${c} conns`, 'HEAD', '/session', c, 'head', [
        ...(await refs()),
        ...(await gateways(['info'])),
      ]),
      http(
        'head-preserve',
        'head',
        `HEAD /session?preserveIdleTTL=true, ${c} conns`,
        'HEAD',
        '/session?preserveIdleTTL=true',
        c,
        'head',
        await gateways(['info']),
      ),
    );
  }
  if (options.only.has('c256')) {
    scenarios.push(
      http('c256', 'c256', `GET /session, ${C256} conns`, 'GET', '/session', C256, 'c256', [
        await reference('express-floor'),
        ...(await gateways(['info'])),
      ]),
    );
  }
  if (options.only.has('login')) {
    const targets: Target[] = [];
    for (const kind of kinds) {
      for (const build of builds) {
        if (has(build, kind)) {
          targets.push(await gateway(build, makeStore(build, kind, 'login'), 'info'));
        }
      }
    }
    scenarios.push({
      id: 'login',
      group: 'login',
      title: `login (3 requests), ${options.loginConcurrency} loops`,
      kind: 'login',
      method: 'GET',
      path: '/auth/login',
      connections: options.loginConcurrency,
      floorScenario: undefined,
      sessionCount: undefined,
      targets,
    });
  }
  if (options.only.has('sessions')) {
    const fewest = options.sessionCounts[0];
    const most = options.sessionCounts[options.sessionCounts.length - 1];
    for (const count of options.sessionCounts) {
      const targets: Target[] = [];
      for (const kind of kinds) {
        for (const build of builds) {
          // The baseline only at the fewest and the most sessions: enough for its A/B lines and
          // its at-N-vs-at-fewest ratio, two windows a round less (the run's time budget).
          if (build.id === 'baseline' && count !== fewest && count !== most) continue;
          if (!has(build, kind)) continue;
          targets.push(await gateway(build, makeStore(build, kind, `n${count}`), 'info'));
        }
      }
      scenarios.push({
        ...http(
          `sessions-${count}`,
          'sessions',
          `GET /session, ${count} live sessions, ${c} conns`,
          'GET',
          '/session',
          c,
          'get',
          targets,
        ),
        sessionCount: count,
      });
    }
  }
  return { scenarios, stores };
}

function seedable(store: StoreSpec): string | undefined {
  const missing = productModules(store.kind, store.build.distRoot).filter(
    (m) => !fs.existsSync(path.join(store.build.distRoot, m)),
  );
  return missing.length > 0 ? `its dist lacks ${missing.join(', ')}` : undefined;
}

async function prepareStores(
  infra: Infra,
  options: Options,
  scenarios: Scenario[],
  stores: StoreSpec[],
): Promise<void> {
  for (const store of stores.filter((s) => s.id.endsWith('-small'))) {
    const t0 = Date.now();
    await loginSessions(infra, store, options.sessions);
    say(
      `  ${store.id}: ${options.sessions} sessions by real login in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (store.build.seedProblem === undefined) await checkShape(infra, store);
  }
  for (const store of stores.filter((s) => s.id.endsWith('-login'))) {
    fs.writeFileSync(store.cookiesFile, '');
  }
  const seeded = stores.filter((s) => /-n\d+$/.test(s.id));
  for (const store of seeded) {
    const count = Number(/-n(\d+)$/.exec(store.id)?.[1]);
    store.build.seedProblem ??= seedable(store);
    if (store.build.seedProblem !== undefined) continue;
    await seedStore(infra, store, count);
    say(
      `  ${store.id}: ${count} sessions seeded in ${(store.seedSeconds ?? 0).toFixed(1)} s` +
        (store.storeBytes === undefined ? '' : `, store ${(store.storeBytes / 1e6).toFixed(1)} MB`),
    );
  }
  // A build whose sessions cannot be seeded loses the sessions scenario, with the reason said.
  for (const scenario of scenarios.filter((s) => s.group === 'sessions')) {
    for (let i = scenario.targets.length - 1; i >= 0; i -= 1) {
      const build = scenario.targets[i]?.build;
      if (build?.seedProblem !== undefined) scenario.targets.splice(i, 1);
    }
  }
}

// ---------------------------------------------------------------------------------------------

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function summarise(state: CaseState): CaseSummary {
  const s = state.samples;
  const pick = (f: (x: Sample) => number): number => median(s.map(f));
  const sum = (f: (x: Sample) => number): number => s.reduce((a, x) => a + f(x), 0);
  const rates = s.map((x) => x.perSecond);
  const mid = median(rates);
  const failuresBy: Record<string, number> = {};
  for (const x of s) {
    for (const [k, v] of Object.entries(x.failures)) failuresBy[k] = (failuresBy[k] ?? 0) + v;
  }
  return {
    scenario: state.scenario.id,
    scenarioTitle: state.scenario.title,
    group: state.scenario.group,
    kind: state.scenario.kind,
    floorScenario: state.scenario.floorScenario,
    sessionCount: state.scenario.sessionCount,
    target: state.target.id,
    targetTitle: targetTitle(state.target),
    targetKind: state.target.kind,
    build: state.target.build?.id,
    store: state.target.store?.kind,
    storeSessions: state.target.store?.sessions,
    storeBytes: state.target.store?.storeBytes,
    logLevel: state.target.logLevel,
    rounds: s.length,
    perSecond: mid,
    p50Ms: pick((x) => x.p50Ms),
    p99Ms: pick((x) => x.p99Ms),
    maxMs: Math.max(0, ...s.map((x) => x.maxMs)),
    cpuUsPerRequest: pick((x) => x.cpuUsPerRequest),
    targetCpuPercent: pick((x) => x.targetCpuPercent),
    upstreamCpuPercent: pick((x) => x.upstreamCpuPercent),
    redisCpuPercent: pick((x) => x.redisCpuPercent),
    loaderCpuPercent: pick((x) => x.loaderCpuPercent),
    otherCpuPercent: pick((x) => x.otherCpuPercent),
    maxOtherCpuPercent: Math.max(0, ...s.map((x) => x.otherCpuPercent)),
    rssBytes: pick((x) => x.rssBytes),
    setCookiePercent: pick((x) => x.setCookiePercent),
    spreadPercent:
      s.length > 1 && mid > 0 ? ((Math.max(...rates) - Math.min(...rates)) / mid) * 100 : 0,
    errors: sum((x) => x.errors),
    timeouts: sum((x) => x.timeouts),
    non2xx: sum((x) => x.non2xx),
    badBody: sum((x) => x.badBody),
    failuresBy,
    logWarnings: sum((x) => x.logWarnings),
    problems: state.problems,
    notes: state.notes,
    samples: s,
  };
}

/**
 * A copy of the current dist (all but the bench itself) for the whole run: a rebuild of dist/
 * meanwhile (another `npm test`, `npm run build`) cannot swap the gateway between windows or
 * catch it half written. Its node_modules is a link to the checkout's.
 */
function snapshotDist(dataDir: string): string {
  const root = path.join(dataDir, 'current');
  const dist = path.join(root, 'dist');
  fs.mkdirSync(dist, { recursive: true });
  for (const entry of fs.readdirSync(CURRENT_DIST)) {
    if (entry === 'bench') continue;
    fs.cpSync(path.join(CURRENT_DIST, entry), path.join(dist, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  return dist;
}

async function main(): Promise<void> {
  const began = Date.now();
  const options = parseOptions(process.argv.slice(2));
  if (!haveCommand('wrk')) {
    fail('wrk is not installed: the load generator of this bench. Debian: apt-get install -y wrk');
  }
  if (!haveCommand('redis-server') || !haveCommand('redis-cli')) {
    fail(
      'redis-server is not installed (the Redis store scenarios). Debian: apt-get install -y redis-server',
    );
  }
  const baselineRef =
    options.baseline === undefined
      ? defaultBaselineRef(REPO)
      : options.baseline === 'none'
        ? undefined
        : options.baseline;
  const cpus = os.cpus();
  say(
    `tokens-bff bench: ${options.rounds} round(s) × (${options.warmupSeconds} s warm-up + ` +
      `${options.durationSeconds} s) per target and scenario, ${options.connections} connections; ` +
      `groups ${[...options.only].join(',')}; node ${process.version}, ${cpus.length} CPUs ` +
      `(${cpus[0]?.model ?? 'unknown'}), loopback`,
  );
  say(
    `current: ${describeHead(REPO)} (${CURRENT_DIST}, copied at start); baseline: ${baselineRef ?? 'none'}`,
  );

  // Two cores leave no room for a neighbour: a test suite running meanwhile skews every ratio.
  const idle = machineCpu();
  await delay(1000);
  const busyBefore = machineBusySince(idle);
  say(`machine CPU busy in the second before the run: ${busyBefore.toFixed(0)} % of one core`);
  if (busyBefore > BUSY_WARNING_PERCENT) {
    say('WARNING: something else is using the CPU; these figures are noisy.');
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-bench-'));
  let baseline: Baseline | undefined;
  const cleanup = async (): Promise<void> => {
    await stopAll();
    baseline?.remove();
    baseline = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    say(`\n${signal}: stopping every child process and removing temporary files`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAllNow);

  const states: CaseState[] = [];
  let stores: StoreSpec[] = [];
  const builds: Build[] = [
    {
      id: 'current',
      label: describeHead(REPO),
      distRoot: snapshotDist(dataDir),
      seedProblem: undefined,
      shapeNotes: [],
    },
  ];
  try {
    if (baselineRef !== undefined) {
      baseline = prepareBaseline(REPO, baselineRef, say);
      builds.push({
        id: 'baseline',
        label: `${baseline.commit.startsWith(baselineRef) ? '' : `${baselineRef} = `}${baseline.commit.slice(0, 7)} ${baseline.subject}`,
        distRoot: baseline.distRoot,
        seedProblem: undefined,
        shapeNotes: [],
      });
    }
    const tokenKey = randomBytes(32);
    const clientId = 'tokens-bff-bench';
    const clientSecret = randomBytes(24).toString('base64url');
    const upstream = await startUpstream(tokenKey, clientId, clientSecret);
    upstream.child.stderr?.resume();
    const redis = await startRedis(dataDir);
    const infra: Infra = {
      dataDir,
      tokenKey,
      clientId,
      clientSecret,
      sessionSecret: randomBytes(32).toString('base64url'),
      upstreamUrl: upstream.url,
      upstream: upstream.child,
      redis,
      cpuProfDir: options.cpuProfDir === undefined ? undefined : path.resolve(options.cpuProfDir),
    };
    const planned = await plan(infra, options, builds);
    stores = planned.stores;
    say('preparing sessions:');
    await prepareStores(infra, options, planned.scenarios, stores);
    for (const build of builds) {
      if (build.seedProblem !== undefined) {
        say(
          `${build.id === 'current' ? 'WARNING' : 'note'}: sessions scenario skipped for ${build.id}: ${build.seedProblem}`,
        );
      }
    }
    for (const scenario of planned.scenarios) {
      for (const target of scenario.targets)
        states.push({ scenario, target, samples: [], problems: [], notes: [] });
    }
    const windows = states.length * options.rounds;
    say(
      `set-up took ${((Date.now() - began) / 1000).toFixed(0)} s; measuring ${windows} windows ` +
        `(${states.length} per round)…`,
    );
    for (let round = 1; round <= options.rounds; round += 1) {
      say(`round ${round} of ${options.rounds}:`);
      const pool: Pool = new Map();
      const lastUse = new Map<string, CaseState>();
      for (const state of states) lastUse.set(state.target.id, state);
      for (const state of states) {
        const windowStarted = Date.now();
        const sample = await measureCase(infra, options, state, round, pool);
        // Stopped after its last window of the round, so no idle process outlives its use.
        const pooled = pool.get(state.target.id);
        if (pooled && lastUse.get(state.target.id) === state) {
          pool.delete(state.target.id);
          await stopPooled(pooled, state.target, state.notes, round);
        }
        const took = ((Date.now() - windowStarted) / 1000).toFixed(1);
        const unit = state.scenario.kind === 'login' ? 'logins/s' : 'req/s';
        say(
          `  ${state.scenario.id.padEnd(16)} ${targetTitle(state.target).padEnd(34)} ` +
            (sample
              ? `${sample.perSecond.toFixed(0).padStart(6)} ${unit}, p99 ${sample.p99Ms.toFixed(1)} ms, ` +
                `${sample.cpuUsPerRequest.toFixed(0)} µs CPU each` +
                (sample.otherCpuPercent > BUSY_WARNING_PERCENT
                  ? `, other CPU ${sample.otherCpuPercent.toFixed(0)} %`
                  : '')
              : 'FAILED') +
            ` (${took} s)` +
            (state.problems.length > 0 ? `  [${state.problems[state.problems.length - 1]}]` : ''),
        );
      }
    }
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const summaries = states.map(summarise);
  const seconds = (Date.now() - began) / 1000;
  const { text, failed } = report(summaries, {
    busyWarningPercent: BUSY_WARNING_PERCENT,
    builds: builds.map((b) => ({ id: b.id, label: b.label, seedProblem: b.seedProblem })),
  });
  say('');
  say(text);
  say('');
  say(`run took ${seconds.toFixed(0)} s`);

  const resultsDir = path.join(REPO, 'bench/results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, 'latest.json');
  fs.writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus.length,
        cpuModel: cpus[0]?.model,
        clockTicks: CLOCK_TICKS,
        options: { ...options, only: [...options.only] },
        builds: builds.map((b) => ({
          id: b.id,
          label: b.label,
          seedProblem: b.seedProblem,
          shapeNotes: b.shapeNotes,
        })),
        machineBusyPercentBefore: busyBefore,
        runSeconds: seconds,
        stores: stores.map((s) => ({
          id: s.id,
          kind: s.kind,
          sessions: s.sessions,
          storeBytes: s.storeBytes,
          seedSeconds: s.seedSeconds,
        })),
        cases: summaries,
      },
      null,
      2,
    )}\n`,
  );
  say(`results: ${path.relative(process.cwd(), file)}`);
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof Error && err.message.startsWith('--')) process.stderr.write(`${USAGE}\n`);
  process.exitCode = 1;
});
