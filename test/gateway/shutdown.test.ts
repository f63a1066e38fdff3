import { AGENT_USER } from '../emulator/genesys-emulator';
import { startHarness } from '../support/gateway-harness';

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
});
