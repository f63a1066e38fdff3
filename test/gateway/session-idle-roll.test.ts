import { AGENT_USER } from '../../emulator/genesys-emulator';
import type { BrowserClient } from '../support/browser-client';
import { CountingStore } from '../support/counting-store';
import { sessionMaxAge, setAccessTokenLifetime, useHarness } from '../support/gateway-harness';

const IDLE_SECONDS = 1000;
/** docs/contract.md#lifetimes: the roll may be coarse; the gateway's step is a tenth of the idle timeout. */
const STEP_SECONDS = IDLE_SECONDS / 10;

describe('the idle expiry rolls coarsely, and never for preserveIdleTTL=true', () => {
  let store: CountingStore;
  let browser: BrowserClient;

  // afterEach hooks run in the order declared: the clock is real again before the harness closes.
  afterEach(() => jest.restoreAllMocks());
  const h = useHarness({
    env: { SESSION_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS) },
    store: (clock) => (store = new CountingStore({ clock })),
  });

  beforeEach(async () => {
    // express-session dates cookies with Date.now(): keep it on the emulator clock.
    const emulator = h.emulator;
    jest.spyOn(Date, 'now').mockImplementation(() => emulator.now());
    // Tokens outlive the test, so no refresh writes the session.
    setAccessTokenLifetime(h, 86_400);
    browser = await h.login(AGENT_USER);
  });

  const get = (path = '/session') => browser.get(path, { csrf: true });

  it('a request within a tenth of the idle timeout writes nothing and sets no cookie', async () => {
    const writes = store.writes.set;
    h.emulator.advance((STEP_SECONDS - 1) * 1000);
    const res = await get();
    expect(res.status).toBe(200);
    expect(sessionMaxAge(h, res)).toBeUndefined();
    expect(store.writes.set).toBe(writes);
  });

  it('a request a tenth of the idle timeout later rolls: one write and a fresh cookie', async () => {
    const writes = store.writes.set;
    h.emulator.advance(STEP_SECONDS * 1000);
    const res = await get();
    expect(res.status).toBe(200);
    expect(sessionMaxAge(h, res)).toBe(IDLE_SECONDS);
    expect(store.writes.set).toBe(writes + 1);
    const [sess] = Object.values(await store.allSessions());
    expect(sess?.lastSeenAt).toBe(h.emulator.now());
  });

  it('the idle timeout holds to within the step: the session ends 0.9–1 idle timeout after its last use', async () => {
    // Used 0.9 step after login: too soon to roll, so the login's expiry stands.
    h.emulator.advance(STEP_SECONDS * 900);
    expect((await get()).status).toBe(200);
    // Just before the login's expiry it still lives (a preserving check moves nothing) …
    h.emulator.advance((IDLE_SECONDS - STEP_SECONDS * 0.9 - 1) * 1000);
    expect((await get('/session?preserveIdleTTL=true')).status).toBe(200);
    // … and just after it, it is gone: 0.91 idle timeout after its last real use.
    h.emulator.advance(2000);
    expect((await get()).status).toBe(401);
  });

  it.each([
    ['GET', '/session?preserveIdleTTL=true'],
    ['HEAD', '/session?preserveIdleTTL=true'],
  ])(
    '%s %s neither writes nor rolls, so a polling page lets the session idle out',
    async (method, path) => {
      const writes = store.writes.set;
      // Polled at 0.2, 0.4, 0.6 and 0.8 idle timeout after login: alive, and never rolled …
      for (let i = 0; i < 4; i += 1) {
        h.emulator.advance(STEP_SECONDS * 2000);
        const res = await browser.request(method, path, { csrf: true });
        expect(res.status).toBe(200);
        expect(sessionMaxAge(h, res)).toBeUndefined();
      }
      expect(store.writes.set).toBe(writes);
      // … so at 1.0 it has idled out, polling or not.
      h.emulator.advance(STEP_SECONDS * 2000);
      expect((await browser.request(method, path, { csrf: true })).status).toBe(401);
    },
  );

  it('preserveIdleTTL=false is activity like no flag: it rolls', async () => {
    h.emulator.advance(STEP_SECONDS * 1000);
    const res = await get('/session?preserveIdleTTL=false');
    expect(res.status).toBe(200);
    expect(sessionMaxAge(h, res)).toBe(IDLE_SECONDS);
  });
});
