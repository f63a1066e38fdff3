import { createHash } from 'node:crypto';
import { createLoginSecrets } from '../../server/session/pkce';
import { AGENT_USER } from '../../emulator/genesys-emulator';
import { useHarness } from '../support/gateway-harness';
import { CountingStore } from '../support/counting-store';

describe('the cost of a login in store writes', () => {
  let store: CountingStore;
  const h = useHarness({
    store: (clock) => {
      store = new CountingStore({ clock });
      return store;
    },
  });

  it('a first login claims its state once and writes its session once, deleting nothing', async () => {
    const browser = await h.login(AGENT_USER);
    expect(store.writes).toEqual({ set: 1, destroy: 0, claim: 1 });
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
  });

  it('a login over an existing session cookie still drops the old session for a new id', async () => {
    const browser = await h.login(AGENT_USER);
    const [before] = Object.keys(await h.store.allSessions());
    await h.login(AGENT_USER, { client: browser });
    const after = Object.keys(await h.store.allSessions());
    expect(after).toHaveLength(1);
    expect(after).not.toContain(before);
    expect(store.writes.destroy).toBeGreaterThanOrEqual(1);
  });
});

describe('createLoginSecrets', () => {
  it('gives a 256-bit state and verifier, different every time, and the S256 challenge', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i += 1) {
      const { state, verifier, challenge } = createLoginSecrets();
      expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
      seen.add(state).add(verifier);
    }
    expect(seen.size).toBe(200);
  });
});
