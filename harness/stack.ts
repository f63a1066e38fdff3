import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { firstJsonLine, freePort, start, stop, waitFor200 } from '../bench/procs';
import { prepareBaseline, type Baseline } from '../bench/baseline';
import { Secrets } from './checks';
import type { EmulatorJob, ForwardedLine, IssuedLine } from './emulator-process';

/**
 * The processes a harness run drives, each its own: redis-server, the Genesys emulator
 * (harness/emulator-process.ts) and the gateway exactly as production starts it
 * (`node dist/server/main.js` with its environment), its stdout and stderr captured line by line.
 */

export type StoreKind = 'sqlite' | 'redis';

export const REPO = path.resolve(__dirname, '../..');
const CURRENT_DIST = path.resolve(__dirname, '..');
export const CLIENT_ID = 'tokens-bff-harness';

/** The gateway build a run drives: the current dist (a copy) or a commit built in a worktree. */
export interface GatewayBuild {
  readonly label: string;
  /** The commit, for `--gateway` (a ref like HEAD moves); undefined for the current dist. */
  readonly commit: string | undefined;
  readonly distRoot: string;
  remove(): void;
}

/**
 * A copy of the current dist's server/ and config/ for the whole run, node_modules linked: a
 * rebuild of dist/ meanwhile (another `npm run build`) cannot swap the gateway between stores.
 */
export function currentBuild(dataDir: string): GatewayBuild {
  const root = path.join(dataDir, 'current');
  const dist = path.join(root, 'dist');
  for (const part of ['server', 'config']) {
    fs.cpSync(path.join(CURRENT_DIST, part), path.join(dist, part), { recursive: true });
  }
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  return { label: 'current dist', commit: undefined, distRoot: dist, remove: () => undefined };
}

/** `--gateway <ref>`: that commit built in a temporary worktree (bench/baseline.ts). */
export function commitBuild(ref: string, say: (line: string) => void): GatewayBuild {
  const built: Baseline = prepareBaseline(REPO, ref, say);
  return {
    label: `${built.commit.slice(0, 7)} ${built.subject.length > 72 ? `${built.subject.slice(0, 71)}…` : built.subject}`,
    commit: built.commit.slice(0, 7),
    distRoot: built.distRoot,
    remove: () => built.remove(),
  };
}

/** A redis-server of the run's own, no persistence, on a free loopback port. */
export interface Redis {
  readonly child: ChildProcess;
  readonly port: number;
}

function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let answer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

export async function startRedis(dir: string): Promise<Redis> {
  const port = await freePort();
  const child = start(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
  );
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`redis-server exited with code ${child.exitCode} (is it installed?)`);
    }
    if (await pingRedis(port)) return { child, port };
    await delay(50);
  }
  throw new Error('redis-server did not answer PING within 10 s');
}

export interface StackOptions {
  readonly build: GatewayBuild;
  readonly store: StoreKind;
  readonly dataDir: string;
  readonly redis: Redis | undefined;
  /** Redis database of this gateway (a fresh one per run of the same redis-server). */
  readonly redisDb?: number;
  /** Access-token lifetime the emulator gives the gateway's client (default 86 400 s). */
  readonly accessTokenLifetimeSeconds?: number;
  readonly logLevel?: string;
  /** EMBED_ORIGINS (docs/embedded.md): the gateway's embedded mode, popup login and handoff. */
  readonly embedOrigins?: string;
  /** Serve /metrics on a port of its own (the soak samples it there). */
  readonly metricsPort?: boolean;
  /** Collects the run's tokens (the emulator reports each) and secrets; a new one by default. */
  readonly secrets?: Secrets;
  /** Called with every line the gateway writes (stdout and stderr). */
  readonly onLogLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Called when the emulator saw an API call carrying a browser's header or no token. */
  readonly onForwarded?: (call: ForwardedLine['forwarded']) => void;
}

/** A running emulator and gateway, wired together. */
export interface Stack {
  readonly gateway: ChildProcess;
  readonly port: number;
  readonly origin: string;
  readonly metricsUrl: string | undefined;
  readonly emulatorPort: number;
  readonly emulatorPid: number | undefined;
  readonly sessionSecret: string;
  readonly secrets: Secrets;
  readonly logFile: string;
  /** SIGTERM to the gateway; resolves with its exit code (null: it had to be killed). */
  stopGateway(graceMs?: number): Promise<number | null>;
  stop(): Promise<void>;
}

/** Splits a stream into lines; the last partial line is kept until its newline. */
function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) if (line !== '') onLine(line);
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
    rest = '';
  });
}

/** Starts the emulator and a gateway on `options.store`; both on 127.0.0.1, free ports. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const secrets = options.secrets ?? new Secrets();
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const clientSecret = `harness-client-secret-${randomBytes(12).toString('hex')}`;
  const sessionSecret = `harness-session-secret-${randomBytes(16).toString('hex')}`;
  secrets.addFixed(clientSecret);
  secrets.addFixed(sessionSecret);

  const job: EmulatorJob = {
    client: {
      id: CLIENT_ID,
      secret: clientSecret,
      name: 'tokens-bff harness',
      redirectUris: [`${origin}/auth/callback`, `${origin}/`],
      ...(options.accessTokenLifetimeSeconds !== undefined
        ? { accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds }
        : {}),
    },
  };
  const emulator = start(
    process.execPath,
    [path.join(__dirname, 'emulator-process.js'), JSON.stringify(job)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const { port: emulatorPort } = await firstJsonLine<{ port: number }>(emulator, 'emulator');
  if (emulator.stdout) {
    lines(emulator.stdout, (line) => {
      try {
        const parsed = JSON.parse(line) as Partial<IssuedLine & ForwardedLine>;
        if (Array.isArray(parsed.issued)) secrets.addTokens(parsed.issued);
        if (parsed.forwarded !== undefined) options.onForwarded?.(parsed.forwarded);
      } catch {
        // not a token line
      }
    });
  }
  const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;

  const metricsPort = options.metricsPort ? await freePort() : undefined;
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: origin,
    GENESYS_API_BASE_URL: emulatorUrl,
    GENESYS_LOGIN_BASE_URL: emulatorUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: clientSecret,
    SESSION_SECRET: sessionSecret,
    SESSION_STORE: options.store,
    LOG_LEVEL: options.logLevel ?? 'info',
    ...(metricsPort !== undefined ? { METRICS_PORT: String(metricsPort) } : {}),
    ...(options.embedOrigins !== undefined ? { EMBED_ORIGINS: options.embedOrigins } : {}),
    ...(options.store === 'sqlite'
      ? { SESSION_SQLITE_PATH: path.join(options.dataDir, `sessions-${port}.sqlite`) }
      : {
          REDIS_URL: `redis://127.0.0.1:${options.redis?.port ?? 1}/${options.redisDb ?? 0}`,
        }),
  };
  const logFile = path.join(options.dataDir, `gateway-${options.store}-${port}.log`);
  const log = fs.createWriteStream(logFile);
  const gateway = start(process.execPath, [path.join(options.build.distRoot, 'server/main.js')], {
    env,
    cwd: options.dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ended: Promise<void>[] = [];
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = gateway[name];
    if (!stream) continue;
    ended.push(new Promise((resolve) => stream.once('close', () => resolve())));
    lines(stream, (line) => {
      log.write(`${line}\n`);
      options.onLogLine?.(line, name);
    });
  }
  // The gateway's last lines may follow its exit: the log closes once its pipes have.
  const closeLog = async (): Promise<void> => {
    await Promise.race([Promise.all(ended), delay(2000)]);
    await new Promise<void>((resolve) => log.end(resolve));
  };
  try {
    await waitFor200(`${origin}/readyz`, gateway, `gateway (${options.store})`);
  } catch (err) {
    await stop(gateway);
    await stop(emulator);
    await closeLog();
    const tail = fs.readFileSync(logFile, 'utf8').slice(-1500);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tail}`);
  }
  let gatewayExit: Promise<number | null> | undefined;
  const stopGateway = (graceMs = 15_000): Promise<number | null> => {
    gatewayExit ??= stop(gateway, graceMs);
    return gatewayExit;
  };
  return {
    gateway,
    port,
    origin,
    metricsUrl: metricsPort !== undefined ? `http://127.0.0.1:${metricsPort}/metrics` : undefined,
    emulatorPort,
    emulatorPid: emulator.pid,
    sessionSecret,
    secrets,
    logFile,
    stopGateway,
    async stop() {
      await stopGateway();
      await stop(emulator);
      await closeLog();
    },
  };
}
