import http from 'node:http';
import type { Socket } from 'node:net';
import { AGENT_USER, startEmulator, type GenesysEmulator } from '../emulator/genesys-emulator';
import { BrowserClient } from '../support/browser-client';
import { freePort } from '../support/gateway-harness';
import { collect, exitOf, runMain, waitFor } from './spawn';

// SIGTERM to `node dist/server/main.js` (what `docker stop` and Kubernetes send) while clients
// hold keep-alive connections, as every browser and load balancer does (issue 8).

const CLIENT_ID = 'tokens-bff-shutdown-test';
const CLIENT_SECRET = 'shutdown-test-client-secret';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: Socket;
  reusedSocket: boolean;
  /** Date.now() when the last byte of the body arrived. */
  at: number;
}

/** One request on `agent`, read to the end. */
function request(
  agent: http.Agent,
  url: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          socket: req.socket as Socket,
          reusedSocket: req.reusedSocket,
          at: Date.now(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Resolves with Date.now() once `socket` has closed. */
function closedAt(socket: Socket): Promise<number> {
  if (socket.destroyed) return Promise.resolve(Date.now());
  return new Promise((resolve) => socket.once('close', () => resolve(Date.now())));
}

interface Gateway {
  url: string;
  child: ReturnType<typeof runMain>;
  io: ReturnType<typeof collect>;
  /** Logs AGENT_USER in; resolves with the Cookie header of the session. */
  login(): Promise<string>;
}

async function startGateway(emulator: GenesysEmulator, env: Record<string, string>) {
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

describe('SIGTERM with keep-alive clients', () => {
  let emulator: GenesysEmulator;
  let gateway: Gateway | undefined;
  const agents: http.Agent[] = [];

  const keepAliveAgent = (): http.Agent => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    return agent;
  };

  beforeEach(async () => {
    emulator = await startEmulator();
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) agent.destroy();
    gateway?.child.kill('SIGKILL');
    gateway = undefined;
    await emulator.close();
  });

  it('lets a request in flight finish with Connection: close, closes idle connections, and exits 0 at once', async () => {
    gateway = await startGateway(emulator, { SHUTDOWN_DRAIN_SECONDS: '10' });
    const { url, child, io } = gateway;
    const cookie = await gateway.login();

    const idle = keepAliveAgent();
    const idleAnswer = await request(idle, `${url}/healthz`);
    expect(idleAnswer.headers.connection).toBe('keep-alive');
    const idleClosed = closedAt(idleAnswer.socket);

    const busy = keepAliveAgent();
    const warmUp = await request(busy, `${url}/healthz`);
    expect(warmUp.headers.connection).toBe('keep-alive');
    emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 1500 });
    const slow = request(busy, `${url}/session`, { Cookie: cookie, 'X-CSRF': '1' });
    await waitFor(() => emulator.requestsFor('getTokensMe').length === 1, 5000);

    const exited = exitOf(child);
    const signalledAt = Date.now();
    child.kill('SIGTERM');

    const answer = await slow;
    // The same keep-alive connection, whose answer had not started when the signal came.
    expect(answer.reusedSocket).toBe(true);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ organization: expect.any(Object) });
    expect(answer.headers.connection).toBe('close');
    const busyClosed = await closedAt(answer.socket);
    expect(busyClosed - answer.at).toBeLessThan(1000);
    // The idle connection was closed at once, long before the slow answer came back.
    expect((await idleClosed) - signalledAt).toBeLessThan(1000);

    expect(await exited).toBe(0);
    const exitAt = Date.now();
    // Well before the 10 s deadline: as soon as the one request in flight was done.
    expect(exitAt - answer.at).toBeLessThan(3000);
    expect(io.out()).toContain('"msg":"stopped"');
    expect(io.out()).not.toMatch(/"level":"(error|fatal)"/);
  });

  it('cuts a request that outlasts SHUTDOWN_DRAIN_SECONDS at about that bound', async () => {
    gateway = await startGateway(emulator, { SHUTDOWN_DRAIN_SECONDS: '1' });
    const { url, child } = gateway;
    const cookie = await gateway.login();
    emulator.fault({ operation: 'getTokensMe', times: 1 }, { latencyMs: 15_000 });
    const slow = request(keepAliveAgent(), `${url}/session`, { Cookie: cookie, 'X-CSRF': '1' });
    const failed = slow.then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await waitFor(() => emulator.requestsFor('getTokensMe').length === 1, 5000);

    const exited = exitOf(child);
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const took = Date.now() - signalledAt;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(2500);
    expect(await failed).toBe('ECONNRESET');
  });
});
