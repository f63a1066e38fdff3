import http from 'node:http';
import type { Socket } from 'node:net';
import { AGENT_USER } from '../../emulator/genesys-emulator';
import { startHarness } from '../support/gateway-harness';

/** One GET on `agent`, read to the end. */
function get(
  agent: http.Agent,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          socket: req.socket as Socket,
        }),
      );
    });
    req.on('error', reject);
  });
}

/** True when `socket` is closed, or closes within `ms`. */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function waitUntil(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('stop()', () => {
  it('waits for a request whose client hung up before closing the store, so nothing fails', async () => {
    const h = await startHarness();
    try {
      const browser = await h.login(AGENT_USER);
      // The upstream answers after the client has gone: the handler then still writes the session.
      h.emulator.fault({ operation: 'getTokensMe' }, { latencyMs: 300 });
      const cookie = browser.cookieHeaderFor(new URL('/session', h.url));
      const aborted = fetch(`${h.url}/session`, {
        headers: { Cookie: cookie, 'X-CSRF': '1' },
        signal: AbortSignal.timeout(50),
      }).catch((err: unknown) => err);
      expect(await aborted).toMatchObject({ name: 'TimeoutError' });
      const started = Date.now();
      await h.server.stop();
      // It waited for the upstream answer (about 250 ms more), not for the 500 ms drain deadline.
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(Date.now() - started).toBeLessThan(500);
      expect(h.emulator.requestsFor('getTokensMe')).toHaveLength(1);
      const errors = h.logs.filter((line) => /"level":"(error|fatal)"/.test(line));
      expect(errors).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('when a keep-alive client has a request in flight, answers it with Connection: close and resolves once it is sent', async () => {
    const h = await startHarness();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const browser = await h.login(AGENT_USER);
      const cookie = browser.cookieHeaderFor(new URL('/session', h.url));
      h.emulator.fault({ operation: 'getTokensMe' }, { latencyMs: 200 });
      const answer = get(agent, `${h.url}/session`, { Cookie: cookie, 'X-CSRF': '1' });
      await waitUntil(() => h.emulator.requestsFor('getTokensMe').length === 1);
      const started = Date.now();
      const stopped = h.server.stop().then(() => Date.now() - started);
      const res = await answer;
      expect(res.status).toBe(200);
      expect(res.headers.connection).toBe('close');
      // Not the 500 ms drain deadline: the connection closed with its last answer.
      expect(await stopped).toBeLessThan(450);
      // And the client sees its connection closed, not kept for a next request.
      expect(await closesWithin(res.socket, 1000)).toBe(true);
    } finally {
      agent.destroy();
      await h.close();
    }
  });

  it('does not wait for an idle keep-alive connection', async () => {
    const h = await startHarness();
    const agent = new http.Agent({ keepAlive: true });
    try {
      const res = await get(agent, `${h.url}/healthz`);
      expect(res.headers.connection).toBe('keep-alive');
      const started = Date.now();
      await h.server.stop();
      expect(Date.now() - started).toBeLessThan(200);
    } finally {
      agent.destroy();
      await h.close();
    }
  });
});
