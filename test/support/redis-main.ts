import type { ChildProcess } from 'node:child_process';
import { collect, exitOf, mainEnv, runMain, waitFor } from '../process/spawn';
import { freePort } from './gateway-harness';

/** `node dist/server/main.js` on SESSION_STORE=redis, with `redisEnv` saying where Redis is. */
async function startMain(
  redisEnv: Record<string, string>,
): Promise<{ child: ChildProcess; io: ReturnType<typeof collect>; port: number }> {
  const port = await freePort();
  const child = runMain(mainEnv(port, { SESSION_STORE: 'redis', ...redisEnv }));
  return { child, io: collect(child), port };
}

/** Runs main until it exits (a start-up failure); resolves with its exit code and stderr. */
export async function mainFailure(
  redisEnv: Record<string, string>,
): Promise<[number | null, string]> {
  const { child, io } = await startMain(redisEnv);
  try {
    return [await exitOf(child), io.err()];
  } finally {
    child.kill('SIGKILL');
  }
}

/** What main wrote and how it ended, run by `mainRun`. */
export interface MainRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Starts main, waits until it listens and /readyz answers 200 (and then `runMs` more), then stops
 * it with SIGTERM; resolves with its exit code, stdout (the JSON logs) and stderr.
 */
export async function mainRun(redisEnv: Record<string, string>, runMs = 0): Promise<MainRun> {
  const { child, io, port } = await startMain(redisEnv);
  try {
    await waitFor(() => io.out().includes('"msg":"listening"') || child.exitCode !== null, 10_000);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (ready !== 200) throw new Error(`/readyz answered ${ready}: ${io.err()}`);
    await new Promise((resolve) => setTimeout(resolve, runMs));
    const exited = exitOf(child);
    child.kill('SIGTERM');
    const code = await exited;
    return { code, out: io.out(), err: io.err() };
  } finally {
    child.kill('SIGKILL');
  }
}

/**
 * `mainRun` resolving with its exit code and stderr only. Proves the configuration reaches the
 * store as main wires it.
 */
export async function mainServes(
  redisEnv: Record<string, string>,
): Promise<[number | null, string]> {
  const { code, err } = await mainRun(redisEnv);
  return [code, err];
}
