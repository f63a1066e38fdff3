import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { throwawayRedisArgs } from '../../bench/procs';
import { freePort } from './gateway-harness';

/** A real redis-server on 127.0.0.1 that a test owns: it can crash it, freeze it and bring it back. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` (`rediss://` when started with `tls`) */
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

/** How a test wants its redis-server: extra arguments (ACL, replication, cluster) and TLS. */
export interface RedisServerOptions {
  /** More `redis-server` arguments, after the port and persistence ones. */
  readonly args?: readonly string[];
  /** Serve TLS only, on the port, with these PEM files (support/redis-tls.ts makes them). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  /**
   * Working folder (cluster state files); a test that passes one removes it. Without one the
   * server gets its own temporary folder, removed on stop: a replica writes the primary's
   * snapshot to dump.rdb there even with `--save ""`, and must not write it into the checkout.
   */
  readonly dir?: string;
}

/** Throws a clear error when `command` (a Debian package's) is not installed. */
export function assertInstalled(
  command = 'redis-server',
  pkg = 'redis-server',
  versionArgs: readonly string[] = ['--version'],
): void {
  const probe = spawnSync(command, versionArgs, { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `${command} is not installed, and the Redis tests need a real one: run \`apt-get install ${pkg}\` (Debian package ${pkg})`,
    );
  }
}

function serverArgs(port: number, dir: string, options: RedisServerOptions): string[] {
  const listen = options.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        options.tls.cert,
        '--tls-key-file',
        options.tls.key,
        '--tls-ca-cert-file',
        options.tls.ca,
        // The gateway proves who it is with its ACL password, not a client certificate.
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  // No persistence: each start is an empty Redis.
  return [...listen, ...throwawayRedisArgs(dir), ...(options.args ?? [])];
}

/**
 * Starts `command` (redis-server, or redis-sentinel with its config file) and resolves once it
 * logs that it is ready.
 */
export function launch(
  args: readonly string[],
  label: string,
  command = 'redis-server',
  readyLine = 'Ready to accept connections',
): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not start: ${output}`));
    }, READY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(readyLine)) {
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
      reject(new Error(`${label} exited with ${code}: ${output}`));
    });
  });
}

/** Resolves once `child` has exited (at once if it has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts redis-server on a free loopback port; throws a clear error when it is not installed. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  assertInstalled();
  const port = await freePort();
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'redis-'));
  const start = (): Promise<ChildProcess> =>
    launch(serverArgs(port, dir, options), `redis-server on port ${port}`);
  let child: ChildProcess | undefined = await start();

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
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    kill: () => end('SIGKILL'),
    async restart() {
      await end('SIGKILL');
      child = await start();
    },
    async ensureRunning() {
      if (child) child.kill('SIGCONT');
      else child = await start();
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async stop() {
      await end('SIGTERM');
      if (ownsDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
