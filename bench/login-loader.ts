import fs from 'node:fs';
import http from 'node:http';
import { createHistogram } from 'node:perf_hooks';

/**
 * Login load generator, its own process (`node login-loader.js '<json LoginJob>'`): C loops,
 * each logging in again and again through the real flow a browser follows, over keep-alive
 * agents: `GET /auth/login` on the gateway (302, login-transaction cookie scoped to
 * /auth/callback) → `GET /oauth/authorize` on the lean upstream (302 back with code and state)
 * → `GET /auth/callback?code&state` with that cookie (302 with the session cookie).
 *
 * Mode `load`: warm-up, then prints `{"event":"measuring"}`, runs `durationSeconds`, checks one
 * of the new sessions with `GET /session`, prints `{"event":"done","result":…}`.
 * Mode `collect`: `count` logins, their session cookies written to `cookiesFile` (one
 * `name=value` line each), prints `{"event":"done","result":…}`.
 */

export interface LoginJob {
  readonly mode: 'load' | 'collect';
  readonly gatewayUrl: string;
  readonly sessionCookieName: string;
  readonly concurrency: number;
  readonly warmupSeconds?: number;
  readonly durationSeconds?: number;
  readonly count?: number;
  readonly cookiesFile?: string;
}

export interface LoginResult {
  readonly logins: number;
  readonly seconds: number;
  readonly loginsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly failures: number;
  /** Failures by step and status, e.g. `callback:400`. */
  readonly failuresBy: Readonly<Record<string, number>>;
  /** Whether a session made by the run answered GET /session with a TokenInfo. */
  readonly sessionWorks: boolean;
  readonly loaderCpuPercent: number;
}

/** Per request: a hung step counts as a failure, never stalls the loop past its time. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bounds a `load` run however fast the gateway is. */
const MAX_LOGINS = 10_000_000;

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

class StepError extends Error {
  constructor(readonly key: string) {
    super(key);
  }
}

function get(url: URL, headers: Record<string, string>, step: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'GET', agent, headers, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 65_536) body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', () => reject(new StepError(`${step}:read`)));
      },
    );
    req.on('timeout', () => req.destroy(new StepError(`${step}:timeout`)));
    req.on('error', (err) =>
      reject(err instanceof StepError ? err : new StepError(`${step}:error`)),
    );
    req.end();
  });
}

function redirect(answer: Answer, step: string, base: URL): URL {
  const location = answer.headers.location;
  if (answer.status !== 302 || typeof location !== 'string') {
    throw new StepError(`${step}:${answer.status}`);
  }
  return new URL(location, base);
}

/** One login; resolves with the session cookie as a `name=value` pair. */
async function loginOnce(job: LoginJob): Promise<string> {
  const gateway = new URL(job.gatewayUrl);
  const start = await get(new URL('/auth/login', gateway), {}, 'login');
  const authorize = redirect(start, 'login', gateway);
  // The login sets its transaction cookie and that cookie's binding (server/session/login-transaction.ts):
  // a browser sends both back to the callback.
  const loginCookies = (start.headers['set-cookie'] ?? []).map((line) => {
    const end = line.indexOf(';');
    return end < 0 ? line : line.slice(0, end);
  });
  if (loginCookies.length === 0) throw new StepError('login:no-transaction-cookie');
  const callback = redirect(await get(authorize, {}, 'authorize'), 'authorize', authorize);
  const done = await get(callback, { cookie: loginCookies.join('; ') }, 'callback');
  redirect(done, 'callback', callback);
  const session = (done.headers['set-cookie'] ?? []).find((line) =>
    line.startsWith(`${job.sessionCookieName}=`),
  );
  if (session === undefined) throw new StepError('callback:no-session-cookie');
  const end = session.indexOf(';');
  return end < 0 ? session : session.slice(0, end);
}

async function sessionWorks(job: LoginJob, cookie: string | undefined): Promise<boolean> {
  if (cookie === undefined) return false;
  try {
    const answer = await get(
      new URL('/session', job.gatewayUrl),
      { cookie, 'x-csrf': '1' },
      'session',
    );
    return answer.status === 200 && answer.body.includes('"OAuthClient"');
  } catch {
    return false;
  }
}

interface Phase {
  logins: number;
  failures: Map<string, number>;
  latency: ReturnType<typeof createHistogram>;
  cookies: string[];
  lastCookie: string | undefined;
}

/** C loops until `until` (ms epoch) or `count` logins in all; bounded either way. */
async function phase(
  job: LoginJob,
  until: number,
  count: number,
  keepCookies: boolean,
): Promise<Phase> {
  const result: Phase = {
    logins: 0,
    failures: new Map(),
    latency: createHistogram(),
    cookies: [],
    lastCookie: undefined,
  };
  let started = 0;
  async function loop(): Promise<void> {
    while (Date.now() < until && started < count) {
      started += 1;
      const t0 = process.hrtime.bigint();
      try {
        const cookie = await loginOnce(job);
        result.latency.record(Math.max(1, Number(process.hrtime.bigint() - t0)));
        result.logins += 1;
        result.lastCookie = cookie;
        if (keepCookies) result.cookies.push(cookie);
      } catch (err) {
        const key = err instanceof StepError ? err.key : 'unexpected';
        result.failures.set(key, (result.failures.get(key) ?? 0) + 1);
      }
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, loop));
  return result;
}

function emit(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as LoginJob;
  if (job.mode === 'load' && (job.warmupSeconds ?? 0) > 0) {
    await phase(job, Date.now() + (job.warmupSeconds ?? 0) * 1000, MAX_LOGINS, false);
  }
  emit({ event: 'measuring' });
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const collect = job.mode === 'collect';
  const measured = collect
    ? await phase(job, Date.now() + 120_000, job.count ?? 0, true)
    : await phase(job, Date.now() + (job.durationSeconds ?? 1) * 1000, MAX_LOGINS, false);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu);
  if (collect) {
    fs.writeFileSync(job.cookiesFile as string, `${measured.cookies.join('\n')}\n`);
  }
  const h = measured.latency;
  const failures = [...measured.failures.values()].reduce((a, b) => a + b, 0);
  const result: LoginResult = {
    logins: measured.logins,
    seconds,
    loginsPerSecond: measured.logins / seconds,
    p50Ms: h.count > 0 ? h.percentile(50) / 1e6 : 0,
    p99Ms: h.count > 0 ? h.percentile(99) / 1e6 : 0,
    maxMs: h.count > 0 ? h.max / 1e6 : 0,
    failures,
    failuresBy: Object.fromEntries(measured.failures),
    sessionWorks: await sessionWorks(job, measured.lastCookie),
    loaderCpuPercent: ((used.user + used.system) / 1e6 / seconds) * 100,
  };
  emit({ event: 'done', result });
  agent.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `login loader failed: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
