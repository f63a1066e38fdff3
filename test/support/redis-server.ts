import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './gateway-harness';

/** A real redis-server on 127.0.0.1 that a test owns: it can crash it, freeze it and bring it back. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** SIGKILL, as a crash: clients see the connection drop. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  /** Resumes a paused server and starts a killed one again: for afterEach after a failed test. */
  ensureRunning(): Promise<void>;
  /** SIGSTOP: the connection stays up but nothing answers (a wedged Redis). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Stops the server for good; safe to call twice. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

function assertInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'redis-server is not installed, and the Redis tests need a real one: run `apt-get install redis-server` (Debian package redis-server)',
    );
  }
}

function launch(port: number): Promise<ChildProcess> {
  // No persistence: each start is an empty Redis, and nothing is written to the working tree.
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port} did not start: ${output}`));
    }, READY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining, so a full pipe never blocks the server.
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited with ${code}: ${output}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts redis-server on a free loopback port; throws a clear error when it is not installed. */
export async function startRedisServer(): Promise<RedisServer> {
  assertInstalled();
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port);

  async function end(signal: NodeJS.Signals): Promise<void> {
    const running = child;
    child = undefined;
    if (!running) return;
    const gone = exited(running);
    // A paused server must be woken up to act on SIGTERM.
    running.kill('SIGCONT');
    running.kill(signal);
    await gone;
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => end('SIGKILL'),
    async restart() {
      await end('SIGKILL');
      child = await launch(port);
    },
    async ensureRunning() {
      if (child) child.kill('SIGCONT');
      else child = await launch(port);
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    stop: () => end('SIGTERM'),
  };
}
