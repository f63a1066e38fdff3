import http from 'node:http';
import { useHarness, type Harness } from '../support/gateway-harness';
import type { BrowserClient, ClientResponse } from '../support/browser-client';
import {
  ADMIN_USER,
  AGENT_USER,
  type EmulatorUser,
  type Fault,
} from '../../emulator/genesys-emulator';
import { sessionIdsOfUser } from '../support/store-contents';

const NEW_USER: EmulatorUser = {
  id: '9d2c4b6a-8e1f-4a3b-b5c7-d9e0f1a2b3c4',
  name: 'Nora New',
  email: 'nora.new@example.com',
  username: 'nora.new@example.com',
  permissions: [],
};
const UNKNOWN_USER_ID = '00000000-1111-4222-8333-444444444444';

function revoke(client: BrowserClient, userId: string): Promise<ClientResponse> {
  return client.request('DELETE', `/admin/users/${userId}/tokens`, { csrf: true });
}

/** Sends `path` byte for byte: fetch's URL parser would resolve `%2e%2e` before it left. */
function rawDelete(
  h: Harness,
  client: BrowserClient,
  path: string,
  body = '',
): Promise<{ status: number; contentType: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(h.url);
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: 'DELETE',
        path,
        headers: {
          'X-CSRF': '1',
          Cookie: client.cookieHeaderFor(url),
          'Content-Type': 'text/plain',
          'Content-Length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('DELETE /admin/users/:userId/tokens', () => {
  const h = useHarness();

  it.each([
    ['"me"', '/admin/users/me/tokens'],
    ['..%2F..%2Ftimeout', '/admin/users/..%2F..%2Ftimeout/tokens'],
    ['%2e%2e', '/admin/users/%2e%2e/tokens'],
    ['a UUID with %2F appended', `/admin/users/${AGENT_USER.id}%2F/tokens`],
    ['a UUID with a trailing /', `/admin/users/${AGENT_USER.id}//tokens`],
    ['a UUID with a path behind it', `/admin/users/${AGENT_USER.id}/x/tokens`],
    ['a 37-character id', `/admin/users/${AGENT_USER.id}a/tokens`],
    ['an empty segment', '/admin/users//tokens'],
  ])('attack: %s as the user id gets 400 and never reaches Genesys', async (_case, path) => {
    const admin = await h.login(ADMIN_USER);
    await h.login(AGENT_USER);
    h.emulator.clearRequests();
    const res = await rawDelete(h, admin, path);
    expect(res.status).toBe(400);
    expect(res.contentType).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.text)).toMatchObject({ status: 400, detail: /userId must be a UUID/ });
    expect(h.emulator.requests).toEqual([]);
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(1);
  });

  it('attack: a trailing slash after /tokens is an unknown route (404), not a revoke', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.clearRequests();
    const res = await rawDelete(h, admin, `/admin/users/${AGENT_USER.id}/tokens/`);
    expect(res.status).toBe(404);
    expect(h.emulator.requests).toEqual([]);
  });

  it('attack: an HTTP request smuggled in the body is dropped, never sent upstream', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.clearRequests();
    const smuggled = `DELETE /api/v2/tokens/${ADMIN_USER.id} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const res = await rawDelete(h, admin, `/admin/users/${AGENT_USER.id}/tokens`, smuggled);
    expect(res.status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(h.emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `DELETE /api/v2/tokens/${AGENT_USER.id}`,
    ]);
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toHaveLength(1);
  });

  it('revoking a user with several sessions ends all of them: each answers 401 without asking Genesys', async () => {
    const admin = await h.login(ADMIN_USER);
    const agents = [
      await h.login(AGENT_USER),
      await h.login(AGENT_USER),
      await h.login(AGENT_USER),
    ];
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(3);
    h.emulator.clearRequests();

    const res = await revoke(admin, AGENT_USER.id);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(h.emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `DELETE /api/v2/tokens/${AGENT_USER.id}`,
    ]);
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toEqual([]);

    h.emulator.clearRequests();
    for (const agent of agents) {
      const after = await agent.get('/session', { csrf: true });
      expect(after.status).toBe(401);
    }
    expect(h.emulator.requestsFor('getTokensMe')).toEqual([]);
    expect(h.emulator.requests).toEqual([]);
    // The admin's own session is untouched.
    expect((await admin.get('/session', { csrf: true })).status).toBe(200);
  });

  it('an upper-case UUID names the same user: upstream gets it lower-case, local sessions end', async () => {
    const admin = await h.login(ADMIN_USER);
    await h.login(AGENT_USER);
    h.emulator.clearRequests();
    const res = await revoke(admin, AGENT_USER.id.toUpperCase());
    expect(res.status).toBe(204);
    expect(h.emulator.requestsFor('deleteToken')[0]?.path).toBe(`/api/v2/tokens/${AGENT_USER.id}`);
    expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toEqual([]);
  });

  it('revoking a user who has no session here still revokes upstream: 204', async () => {
    h.emulator.addUser(NEW_USER);
    const admin = await h.login(ADMIN_USER);
    h.emulator.clearRequests();
    const res = await revoke(admin, NEW_USER.id);
    expect(res.status).toBe(204);
    expect(h.emulator.requestsFor('deleteToken').map((r) => r.path)).toEqual([
      `/api/v2/tokens/${NEW_USER.id}`,
    ]);
  });

  it("revoking an unknown user passes Genesys's 404 through", async () => {
    const admin = await h.login(ADMIN_USER);
    const res = await revoke(admin, UNKNOWN_USER_ID);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json()).toMatchObject({ status: 404, code: 'not.found' });
  });

  it("an agent without oauth:token:delete gets Genesys's 403 and the target's sessions live on", async () => {
    const admin = await h.login(ADMIN_USER);
    const agent = await h.login(AGENT_USER);
    const res = await revoke(agent, ADMIN_USER.id);
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ status: 403, code: 'missing.permissions' });
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toHaveLength(1);
    expect((await admin.get('/session', { csrf: true })).status).toBe(200);
  });

  it('an admin revoking themself ends their own session too: cookie cleared, next call 401', async () => {
    const admin = await h.login(ADMIN_USER);
    const otherTab = await h.login(ADMIN_USER);
    const cookieName = h.config.session.cookieName;
    expect(admin.cookies.has(cookieName)).toBe(true);

    const res = await revoke(admin, ADMIN_USER.id);
    expect(res.status).toBe(204);
    expect(res.headers.getSetCookie().join('\n')).toMatch(
      new RegExp(`^${cookieName}=;.*Expires=Thu, 01 Jan 1970`, 'm'),
    );
    expect(admin.cookies.has(cookieName)).toBe(false);
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toEqual([]);

    h.emulator.clearRequests();
    expect((await admin.get('/admin/tokens/timeout', { csrf: true })).status).toBe(401);
    expect((await otherTab.get('/session', { csrf: true })).status).toBe(401);
    expect(h.emulator.requests).toEqual([]);
  });

  it.each<[string, Fault, number]>([
    ['429', { status: 429, headers: { 'Retry-After': '3' } }, 429],
    ['500', { status: 500 }, 500],
    ['a timeout', { latencyMs: 1500 }, 504],
  ])(
    'when Genesys answers %s, passes it on and ends no local session',
    async (_c, fault, status) => {
      const admin = await h.login(ADMIN_USER);
      const agent = await h.login(AGENT_USER);
      h.emulator.fault({ operation: 'deleteToken' }, fault);
      const res = await revoke(admin, AGENT_USER.id);
      expect(res.status).toBe(status);
      if (status === 429) expect(res.headers.get('retry-after')).toBe('3');
      if (status === 504) {
        expect(res.json()).toMatchObject({ type: 'urn:tokens-bff:problem:upstream-timeout' });
      } else {
        expect(res.json()).toMatchObject({ status });
      }
      h.emulator.clearFaults();
      expect(await sessionIdsOfUser(h.store, AGENT_USER.id)).toHaveLength(1);
      expect((await agent.get('/session', { csrf: true })).status).toBe(200);
      expect((await admin.get('/session', { csrf: true })).status).toBe(200);
    },
  );
});
