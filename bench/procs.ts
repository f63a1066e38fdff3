import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Child processes of the bench and what /proc says about them. Every child goes through
 * `start`, so `stopAll` (on success, failure and Ctrl-C) reaches each one by its pid.
 */

const children = new Set<ChildProcess>();

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux). */
export const CLOCK_TICKS: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** Spawns a tracked child; it leaves the set when it exits. */
export function start(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): ChildProcess {
  const child = spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

/** Sends SIGTERM, waits up to `graceMs` for the exit, then SIGKILL. Resolves with the exit code. */
export async function stop(child: ChildProcess, graceMs = 5000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  child.kill('SIGTERM');
  // Aborted once the child exits: a pending grace timer would keep the caller's process alive
  // for the rest of `graceMs` after its work is done.
  const grace = new AbortController();
  const timer = delay(graceMs, undefined, { signal: grace.signal }).then(
    () => 'late' as const,
    () => 'aborted' as const,
  );
  const first = await Promise.race([exited, timer]);
  grace.abort();
  if (first !== 'late') return first as number | null;
  child.kill('SIGKILL');
  return exited;
}

/** Stops every child still running (SIGTERM, then SIGKILL after the grace). */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...children].map((child) => stop(child, graceMs)));
}

/** Last resort for `process.on('exit')`: SIGKILL to every child still running, synchronously. */
export function killAllNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

const FIRST_PORT = 10_100;

/**
 * A free loopback port: the gateway's public origin must be known before it listens. It is
 * drawn below the kernel's ephemeral range, not with listen(0): a port from that range can be
 * taken, between this probe and the real listen, by any outgoing connection of a parallel test
 * worker (CI saw EADDRINUSE so). Below the range only another probe can take it. The draw starts
 * above 10080, the highest of the ports fetch() and browsers refuse ("bad port").
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FIRST_PORT + Math.floor(Math.random() * (low - FIRST_PORT));
    if (await canListen(port)) return port;
  }
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The first port of the kernel's ephemeral range. */
function ephemeralLow(): number {
  try {
    const low = Number(
      fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    if (low > FIRST_PORT + 1000) return low;
  } catch {
    // Not Linux: fall back to IANA's dynamic range.
  }
  return 49_152;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `redis-server` arguments for a throwaway Redis: loopback only, nothing persisted, and its
 * working folder `dir` (a replica writes the primary's snapshot there even so).
 */
export function throwawayRedisArgs(dir: string): string[] {
  return ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
}

/** Resolves with the first stdout line of `child` parsed as JSON (`{"port":N}` of our servers). */
export function firstJsonLine<T>(
  child: ChildProcess,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const timer = setTimeout(() => fail(`${what} said nothing within ${timeoutMs} ms`), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      cleanup();
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as T);
      } catch {
        reject(new Error(`${what} wrote something other than JSON: ${buffered.slice(0, 200)}`));
      }
    };
    const onErr = (chunk: Buffer): void => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    };
    const onExit = (code: number | null): void =>
      fail(`${what} exited with code ${String(code)} before it was ready: ${stderr.trim()}`);
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
    }
    function fail(message: string): void {
      cleanup();
      reject(new Error(message));
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

/** Polls `url` until it answers 200 (bounded by `timeoutMs`); fails early when `child` exits. */
export async function waitFor200(
  url: string,
  child: ChildProcess,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (code ${String(child.exitCode)}) before ${url} answered 200`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await delay(25);
  }
  throw new Error(`${what}: ${url} did not answer 200 within ${timeoutMs} ms (${last})`);
}

/** CPU time (user + system) of a process so far, in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which sits in parentheses and may hold spaces: field 3
    // (state) is rest[0], so utime (field 14) is rest[11] and stime (field 15) rest[12].
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** Resident set size of a process in bytes (/proc/<pid>/status VmRSS), 0 when it is gone. */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The machine's CPU time so far, every core and process, in ms. */
export function machineCpu(): { busy: number; all: number } {
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
export function machineBusySince(since: { busy: number; all: number }): number {
  const now = machineCpu();
  return ((now.busy - since.busy) / Math.max(1, now.all - since.all)) * os.cpus().length * 100;
}

/** Whether an executable is on the PATH (or at an absolute path). */
export function haveCommand(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (err) {
    // Exists but refused --version: still there.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
