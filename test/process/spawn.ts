import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { AGENT_USER, type GenesysEmulator } from '../../emulator/genesys-emulator';
import { BrowserClient } from '../support/browser-client';
import { freePort } from '../support/gateway-harness';

/** The production entry point as ops run it (built by `npm test`'s pretest). */
export const MAIN = path.resolve(__dirname, '../../dist/server/main.js');

/** Starts `node dist/server/main.js` with only `env`: the developer's own must not leak in. */
export function runMain(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [MAIN], { env: { PATH: '/usr/bin:/bin', ...env } });
}

/**
 * The least environment main starts with, listening on `port` of 127.0.0.1 (its own public
 * origin, a test client id and secret); `extra` adds to it or overrides it.
 */
export function mainEnv(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    OAUTH_CLIENT_ID: 'client',
    SESSION_SECRET: 'x'.repeat(40),
    ...extra,
  };
}

/** What a child has written so far, on stdout and on stderr. */
export function collect(child: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { out: () => out, err: () => err };
}

/** Resolves with the exit code (null when a signal ended it) once the child has exited. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** True while a process with this pid exists (signal 0 only checks). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const CLIENT_ID = 'tokens-bff-process-test';
const CLIENT_SECRET = 'process-test-client-secret';

/** A gateway process (`node dist/server/main.js`) on the emulator, memory store by default. */
export interface Gateway {
  url: string;
  child: ReturnType<typeof runMain>;
  io: ReturnType<typeof collect>;
  /** Logs AGENT_USER in; resolves with the Cookie header of the session. */
  login(): Promise<string>;
}

/** Starts the gateway process on a free port against `emulator`; `env` adds or overrides. */
export async function startGateway(
  emulator: GenesysEmulator,
  env: Record<string, string>,
): Promise<Gateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  emulator.addClient({
    id: CLIENT_ID,
    secret: CLIENT_SECRET,
    name: 'shutdown test',
    redirectUris: [`${url}/auth/callback`],
  });
  const child = runMain({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: url,
    GENESYS_API_BASE_URL: emulator.url,
    GENESYS_LOGIN_BASE_URL: emulator.url,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: CLIENT_SECRET,
    SESSION_SECRET: 'shutdown-test-session-secret-0123456789',
    SESSION_STORE: 'memory',
    UPSTREAM_TIMEOUT_MS: '30000',
    ...env,
  });
  const io = collect(child);
  await waitFor(() => io.out().includes('"msg":"listening"') || child.exitCode !== null, 10_000);
  if (child.exitCode !== null) throw new Error(`gateway did not start:\n${io.err()}`);
  const login = async (): Promise<string> => {
    const browser = new BrowserClient(url);
    emulator.autoApprove(AGENT_USER.id);
    const done = await browser.follow('/auth/login');
    if (done.status !== 200 && done.status !== 404) {
      throw new Error(`login ended with ${done.status}: ${done.text}`);
    }
    const cookie = browser.cookieHeaderFor(new URL('/session', url));
    if (!cookie) throw new Error('login set no session cookie');
    return cookie;
  };
  return { url, child, io, login } satisfies Gateway;
}
