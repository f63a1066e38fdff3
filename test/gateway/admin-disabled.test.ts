import { useHarness } from '../support/gateway-harness';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import { sessionIdsOfUser } from '../support/store-contents';

describe('with ADMIN_ENABLED=false', () => {
  const h = useHarness({ env: { ADMIN_ENABLED: 'false' } });

  it.each([
    ['GET', '/admin/tokens/timeout', undefined],
    ['PUT', '/admin/tokens/timeout', JSON.stringify({ idleTokenTimeoutSeconds: 1200 })],
    ['DELETE', `/admin/users/${AGENT_USER.id}/tokens`, undefined],
  ])(
    '%s %s answers 404 problem+json, even to a logged-in admin, and Genesys hears nothing',
    async (method, path, body) => {
      const admin = await h.login(ADMIN_USER);
      await h.login(AGENT_USER);
      h.emulator.clearRequests();
      const res = await admin.request(method, path, {
        csrf: true,
        ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body }),
      });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 404, type: 'urn:tokens-bff:problem:not-found' });
      expect(h.emulator.requests).toEqual([]);
      expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(1);
      expect(h.logs.some((line) => line.includes('"audit":true'))).toBe(false);
    },
  );

  it('leaves the rest of the gateway serving: GET /session still works', async () => {
    const admin = await h.login(ADMIN_USER);
    expect((await admin.get('/session', { csrf: true })).status).toBe(200);
  });
});
