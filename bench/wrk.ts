import path from 'node:path';
import { CLOCK_TICKS, start } from './procs';

/** One wrk run (bench/wrk/session.lua): a fixed method and path, cookies rotating over a file. */
export interface WrkJob {
  readonly url: string;
  readonly method: 'GET' | 'HEAD';
  readonly path: string;
  readonly cookiesFile: string;
  readonly connections: number;
  readonly seconds: number;
  /** A 2xx body without this text counts as a bad body (GET only). */
  readonly bodyIncludes?: string;
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly connectErrors: number;
  readonly readErrors: number;
  readonly writeErrors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly badBody: number;
  /** Answers with a Set-Cookie: for the gateway, requests that rolled the idle expiry. */
  readonly setCookie: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU wrk used over its run, in seconds (its parent shell's cutime + cstime). */
  readonly loaderCpuSeconds: number;
}

interface WrkJson {
  requests: number;
  durationUs: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  timeouts: number;
  non2xx: number;
  badBody: number;
  setCookie: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/** Where the Lua script lives: in the source tree, beside dist/ (tsc does not copy it). */
export const WRK_SCRIPT = path.resolve(__dirname, '../../bench/wrk/session.lua');
/** A request slower than this counts as a timeout (loopback answers take milliseconds). */
const WRK_TIMEOUT_SECONDS = 5;
/** Slack past the run before wrk is killed: no run can hang the bench. */
const GRACE_SECONDS = 30;

/**
 * Runs wrk, one thread (one core is what the servers leave it on two cores; wrk's own CPU is
 * the `loader CPU` column). wrk runs under `sh`, which prints its own /proc stat after wrk has
 * exited: the shell's cutime + cstime is then exactly wrk's CPU.
 */
export function runWrk(job: WrkJob): Promise<WrkResult> {
  const script = 'wrk "$@"; code=$?; echo "BENCH_STAT $(cat /proc/$$/stat)"; exit $code';
  const args = [
    '-c',
    script,
    'sh',
    '-t1',
    `-c${job.connections}`,
    `-d${job.seconds}s`,
    '--timeout',
    `${WRK_TIMEOUT_SECONDS}s`,
    '-s',
    WRK_SCRIPT,
    job.url,
    '--',
    job.cookiesFile,
    job.method,
    job.path,
    '1',
    job.bodyIncludes ?? '',
  ];
  const child = start('sh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), (job.seconds + GRACE_SECONDS) * 1000);
    child.on('error', (err) => {
      clearTimeout(killer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      const json = /^BENCH_JSON (.*)$/m.exec(stdout)?.[1];
      const stat = /^BENCH_STAT (.*)$/m.exec(stdout)?.[1];
      if (code !== 0 || json === undefined) {
        reject(new Error(`wrk failed (exit ${String(code)}): ${stderr.trim() || stdout.trim()}`));
        return;
      }
      const w = JSON.parse(json) as WrkJson;
      let loaderCpuSeconds = 0;
      if (stat !== undefined) {
        // cutime and cstime are fields 16 and 17: rest[13] and rest[14] after the command name.
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        loaderCpuSeconds = (Number(rest[13]) + Number(rest[14])) / CLOCK_TICKS;
      }
      resolve({
        requests: w.requests,
        seconds: w.durationUs / 1e6,
        connectErrors: w.connectErrors,
        readErrors: w.readErrors,
        writeErrors: w.writeErrors,
        timeouts: w.timeouts,
        non2xx: w.non2xx,
        badBody: w.badBody,
        setCookie: w.setCookie,
        p50Ms: w.p50Us / 1000,
        p99Ms: w.p99Us / 1000,
        maxMs: w.maxUs / 1000,
        loaderCpuSeconds,
      });
    });
  });
}
