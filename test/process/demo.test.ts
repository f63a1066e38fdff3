import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../support/gateway-harness';
import { collect, exitOf, isAlive, waitFor } from './spawn';

// `npm run demo` runs its script with `sh -c` and passes SIGTERM and SIGINT on to that shell. A
// shell waiting on node then dies of SIGTERM (node is left running, the gateway and the emulator
// in it) or waits for node to end on SIGINT (which never comes): node never hears of either
// (issue 8). Ctrl+C in a terminal reaches node only because it goes to the whole process group.
const ROOT = path.resolve(__dirname, '../..');
const DEMO = path.resolve(__dirname, '../../dist/scripts/demo.js');

/** Pids whose parent is `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === pid ? [Number(entry)] : [];
    } catch {
      return [];
    }
  });
}

/** True when nothing accepts connections at `url` any more. */
async function refused(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

interface Running {
  /** The demo's own node process. */
  pid: number;
  gatewayUrl: string;
  emulatorUrl: string;
  dataDir: string;
}

/** Waits for the demo's banner and reads what it started from it. */
async function started(
  child: ChildProcess,
  io: ReturnType<typeof collect>,
  pid: () => number,
): Promise<Running> {
  await waitFor(() => /Press Ctrl\+C/.test(io.out()) || child.exitCode !== null, 15_000);
  const out = io.out();
  const gatewayUrl = /Open:\s+(\S+)/.exec(out)?.[1];
  const emulatorUrl = /Genesys emulator:\s+(\S+)/.exec(out)?.[1];
  const store = /Session store:\s+(\S+)/.exec(out)?.[1];
  if (!gatewayUrl || !emulatorUrl || !store) {
    throw new Error(`demo did not start:\n${out}${io.err()}`);
  }
  expect((await fetch(`${gatewayUrl}healthz`)).status).toBe(200);
  expect(fs.existsSync(store)).toBe(true);
  return { pid: pid(), gatewayUrl, emulatorUrl, dataDir: path.dirname(store) };
}

/** Asserts that the demo and everything it started are gone, and its data folder with them. */
async function expectAllGone(demo: Running): Promise<void> {
  await waitFor(() => !isAlive(demo.pid), 3000).catch(() => undefined);
  expect(isAlive(demo.pid)).toBe(false);
  expect(await refused(`${demo.gatewayUrl}healthz`)).toBe(true);
  expect(await refused(demo.emulatorUrl)).toBe(true);
  expect(fs.existsSync(demo.dataDir)).toBe(false);
}

/** The demo script of package.json as npm runs it, minus the build (npm test's pretest did it). */
function demoScript(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const script = pkg.scripts.demo ?? '';
  const run = script.replace(/^npm run build && /, 'true && ');
  // The build step must be what was replaced, or the test would run the build (or nothing).
  if (run === script) throw new Error(`the demo script no longer starts with the build: ${script}`);
  if (run === script) throw new Error(`unexpected demo script: ${script}`);
  return run;
}

describe('npm run demo stops everything it started', () => {
  const leftovers: number[] = [];

  afterEach(() => {
    for (const pid of leftovers.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'when npm passes %s on to the shell of its script',
    async (signal) => {
      const port = await freePort();
      // What `npm run demo -- --port N` runs: its arguments go at the end of the script.
      const shell = spawn('sh', ['-c', `${demoScript()} --port ${port}`], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const io = collect(shell);
      const demo = await started(shell, io, () => {
        const [child] = childrenOf(shell.pid as number);
        return child ?? (shell.pid as number);
      });
      leftovers.push(demo.pid);

      const exited = exitOf(shell);
      shell.kill(signal);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      await expectAllGone(demo);
      expect(await exited).toBe(0);
    },
  );

  it('when the process that started it dies without passing a signal on', async () => {
    const port = await freePort();
    // A shell running node as one command of a list, so that node is its child, killed outright.
    const shell = spawn(
      'sh',
      ['-c', 'true && "$0" "$1" --port "$2"', process.execPath, DEMO, String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const io = collect(shell);
    const demo = await started(shell, io, () => {
      const [child] = childrenOf(shell.pid as number);
      if (child === undefined) throw new Error('the shell has no child');
      return child;
    });
    leftovers.push(demo.pid);
    expect(demo.pid).not.toBe(shell.pid);

    shell.kill('SIGKILL');
    await expectAllGone(demo);
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
    'when the demo itself gets %s, and it exits 0',
    async (signal) => {
      const port = await freePort();
      const child = spawn(process.execPath, [DEMO, '--port', String(port)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const io = collect(child);
      const demo = await started(child, io, () => child.pid as number);
      leftovers.push(demo.pid);

      const exited = exitOf(child);
      child.kill(signal);
      expect(await exited).toBe(0);
      await expectAllGone(demo);
      expect(io.err()).toBe('');
    },
  );
});
