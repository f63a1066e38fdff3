import http from 'node:http';
import type { Socket } from 'node:net';
import { startEmulator, type GenesysEmulator } from '../../emulator/genesys-emulator';
import { exitOf, startGateway, waitFor, type Gateway } from './spawn';

// SIGTERM to `node dist/server/main.js` (what `docker stop` and Kubernetes send) while clients
// hold keep-alive connections, as every browser and load balancer does (issue 8).

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
