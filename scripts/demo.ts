import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/load-config';
import { createLogger } from '../server/core/logger';
import { startServer } from '../server/http/server';
import { SqliteSessionStore } from '../server/stores/sqlite/store';
import { DEFAULT_USERS, startEmulator } from '../emulator/genesys-emulator';

/**
 * `npm run demo`: the built-in Genesys emulator, the gateway with a generated configuration and a
 * SQLite store in a temp folder, and the demo page, all on loopback. Nothing to configure. Both
 * servers run in this one process, so stopping it stops them: on SIGINT, SIGTERM or SIGHUP, and
 * when whatever started it goes away without passing a signal on.
 *
 * `--embedded`: the app as Genesys Cloud shows a client app (docs/embedded.md). A second local
 * origin, http://localhost:<port + 1>, another site than the gateway's 127.0.0.1, serves a page
 * that frames the app; EMBED_ORIGINS names it, so cookies are partitioned and login in the
 * frame goes through a popup.
 */

/** How often the demo checks that the process that started it is still there. */
const PARENT_CHECK_MS = 500;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function pickPort(preferred: number): Promise<number> {
  if (await portIsFree(preferred)) return preferred;
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * Serves the Genesys Cloud stand-in (demo/host/index.html) framing `appUrl`. It listens on
 * 127.0.0.1 and is named `localhost`: for the browser, another site than 127.0.0.1.
 */
async function startHost(
  port: number,
  appUrl: string,
): Promise<{ origin: string; server: http.Server }> {
  const origin = `http://localhost:${port}`;
  const template = fs.readFileSync(path.resolve(__dirname, '../../demo/host/index.html'), 'utf8');
  const page = template
    .replace(/__APP_URL__/g, appUrl.replace(/&/g, '&amp;'))
    .replace(/__APP_ORIGIN__/g, new URL(appUrl).origin)
    .replace(/__HOST_ORIGIN__/g, origin);
  const server = http.createServer((req, res) => {
    if (req.url !== '/' && !req.url?.startsWith('/?')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(page);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { origin, server };
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  // Real time: tokens and idle timers expire as they would at Genesys.
  const emulator = await startEmulator({ realTime: true });
  const port = await pickPort(Number(argument('port') ?? 3000));
  const origin = `http://127.0.0.1:${port}`;
  const embedded = process.argv.includes('--embedded');
  const hostPort = embedded ? await pickPort(port + 1) : undefined;
  const hostOrigin = hostPort === undefined ? undefined : `http://localhost:${hostPort}`;
  const clientId = 'tokens-bff-demo';
  const clientSecret = randomBytes(24).toString('base64url');
  emulator.addClient({
    id: clientId,
    secret: clientSecret,
    name: 'tokens-bff demo',
    // `/` too: the Genesys logout page (IDP_LOGOUT) sends the browser back there.
    redirectUris: [`${origin}/auth/callback`, `${origin}/`],
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-demo-'));
  // The page, plus what only the demo knows: the emulator's users, for the admin panel's revoke
  // picker. A copy, so the list never sits in demo/public (which the image ships) or the gateway.
  const pages = path.join(dataDir, 'public');
  fs.cpSync(path.resolve(__dirname, '../../demo/public'), pages, { recursive: true });
  fs.writeFileSync(
    path.join(pages, 'demo-users.json'),
    JSON.stringify(
      DEFAULT_USERS.map((u) => ({
        id: u.id,
        name: u.name,
        role: u.permissions.length > 0 ? 'admin' : 'no admin permissions',
      })),
    ),
  );
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: origin,
    GENESYS_API_BASE_URL: emulator.url,
    GENESYS_LOGIN_BASE_URL: emulator.url,
    OAUTH_CLIENT_ID: clientId,
    OAUTH_CLIENT_SECRET: clientSecret,
    // Fresh secrets each run: the demo's sessions need not outlive it.
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    SESSION_STORE: 'sqlite',
    SESSION_SQLITE_PATH: path.join(dataDir, 'sessions.sqlite'),
    STATIC_DIR: pages,
    LOG_LEVEL: argument('log-level') ?? 'warn',
    ...(hostOrigin === undefined ? {} : { EMBED_ORIGINS: hostOrigin }),
  });
  const logger = createLogger(config.logLevel);
  const store = new SqliteSessionStore({ path: config.session.sqlitePath });
  const server = await startServer(config, { logger, store }, { drainMs: 1000 });
  // The query a Genesys Cloud integration URL template would add (docs/embedded.md).
  const host =
    hostPort === undefined || hostOrigin === undefined
      ? undefined
      : await startHost(
          hostPort,
          `${server.url}/?gcHostOrigin=${encodeURIComponent(hostOrigin)}&gcTargetEnv=demo&gcLangTag=en-us`,
        );

  process.stdout.write(
    [
      '',
      'tokens-bff demo is running.',
      ...(host === undefined
        ? [`  Open:              ${server.url}/`]
        : [
            `  Open (embedded):   ${host.origin}/  (a Genesys Cloud stand-in framing the app)`,
            `  The app itself:    ${server.url}/`,
          ]),
      `  Genesys emulator:  ${emulator.url} (users: ${DEFAULT_USERS.map((u) => u.name).join(', ')})`,
      `  Session store:     ${config.session.sqlitePath}`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    host?.server.closeAllConnections();
    host?.server.close();
    await server.stop();
    await emulator.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  // SIGHUP: the terminal closed. Without a handler it would end the process but leave the data.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void stop());
  }
  // Orphaned (the parent died and the process was handed to init or a subreaper): a shell that
  // dies of a signal, or a parent killed outright, passes nothing on, and the demo would hold its
  // ports until someone finds it.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop();
  }, PARENT_CHECK_MS).unref();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
