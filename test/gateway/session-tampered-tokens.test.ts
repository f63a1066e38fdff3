import { AGENT_USER } from '../../emulator/genesys-emulator';
import { useHarness } from '../support/gateway-harness';

/** Flips one character of the sealed ciphertext part (`v1.<key>.<iv>.<ciphertext>.<tag>`). */
function tamper(sealed: string): string {
  const parts = sealed.split('.');
  const ciphertext = parts[3] ?? '';
  parts[3] = (ciphertext[0] === 'A' ? 'B' : 'A') + ciphertext.slice(1);
  return parts.join('.');
}

describe('a session whose sealed tokens were changed in the store', () => {
  const h = useHarness();

  it('is refused even right after its genuine tokens were opened and used', async () => {
    const browser = await h.login(AGENT_USER);
    expect((await browser.get('/session', { csrf: true })).status).toBe(200);
    const [[sid, sess] = []] = Object.entries(await h.store.allSessions());
    if (sid === undefined || sess?.tokens === undefined) throw new Error('no stored session');
    await h.store.setSession(sid, { ...sess, tokens: tamper(sess.tokens) });
    h.emulator.clearRequests();

    const res = await browser.get('/session', { csrf: true });
    expect(res.status).toBe(401);
    // Refused before Genesys: no token, genuine or forged, went upstream.
    expect(h.emulator.requests).toEqual([]);
    expect(await h.store.countSessions()).toBe(0);
  });
});
