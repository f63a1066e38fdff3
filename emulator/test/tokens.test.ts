import type { EmulatorClient, GenesysEmulator } from '../genesys-emulator';
import { ADMIN_USER, AGENT_USER, DEFAULT_ORG, startEmulator } from '../genesys-emulator';
import { tokenRequest } from '../flow-helpers';

const CLIENT: EmulatorClient = {
  id: 'bff-client',
  secret: 'bff-secret',
  name: 'Tokens BFF',
  redirectUris: ['http://app.test/auth/callback'],
};
const START = Date.parse('2030-01-01T00:00:00.000Z');

let emu: GenesysEmulator;
let admin: string;
let agent: string;

beforeEach(async () => {
  emu = await startEmulator({ clients: [CLIENT], startTime: START });
  admin = emu.issueToken(ADMIN_USER.id, CLIENT.id).access_token;
  agent = emu.issueToken(AGENT_USER.id, CLIENT.id).access_token;
});

afterEach(async () => {
  await emu.close();
});

function api(
  path: string,
  token: string | undefined,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return fetch(`${emu.url}${path}`, { ...init, headers });
}

function putTimeout(token: string, body: unknown, contentType = 'application/json') {
  return api('/api/v2/tokens/timeout', token, {
    method: 'PUT',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function errorOf(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get('content-type')).toBe('application/json');
  return (await res.json()) as Record<string, unknown>;
}

describe('every API answer', () => {
  it('carries a correlation id and the rate-limit headers', async () => {
    const res = await api('/api/v2/tokens/me', admin, { method: 'HEAD' });
    expect(res.headers.get('inin-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('inin-ratelimit-count')).toBe('1');
    expect(res.headers.get('inin-ratelimit-allowed')).toBe('300');
    expect(Number(res.headers.get('inin-ratelimit-reset'))).toBeGreaterThan(0);
    const second = await api('/api/v2/tokens/me', admin, { method: 'HEAD' });
    expect(second.headers.get('inin-ratelimit-count')).toBe('2');
  });

  it('echoes the caller ININ-Correlation-Id, also as the ErrorBody contextId', async () => {
    const res = await api('/api/v2/tokens/me', 'nope', {
      headers: { 'ININ-Correlation-Id': 'req-42' },
    });
    expect(res.headers.get('inin-correlation-id')).toBe('req-42');
    expect(await errorOf(res)).toMatchObject({ contextId: 'req-42' });
  });
});

describe('authentication', () => {
  it('no bearer token: 401 authentication.required', async () => {
    const res = await api('/api/v2/tokens/me', undefined);
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toEqual({
      message: 'No authentication bearer token specified in authorization header.',
      code: 'authentication.required',
      status: 401,
      messageWithParams: 'No authentication bearer token specified in authorization header.',
      messageParams: {},
      contextId: res.headers.get('inin-correlation-id'),
      details: [],
      errors: [],
    });
  });

  it('unknown token: 401 bad.credentials', async () => {
    const res = await api('/api/v2/users/me', 'forged');
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toMatchObject({ code: 'bad.credentials', status: 401 });
  });

  it('HEAD answers 401 without a body', async () => {
    const res = await api('/api/v2/tokens/me', 'forged', { method: 'HEAD' });
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('');
  });
});

describe('HEAD /api/v2/tokens/me', () => {
  it('answers 200 with no body for a live token', async () => {
    const res = await api('/api/v2/tokens/me', admin, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });
});

describe('GET /api/v2/tokens/me', () => {
  it('answers TokenInfo', async () => {
    const res = await api('/api/v2/tokens/me', agent);
    expect(res.status).toBe(200);
    const org = { id: DEFAULT_ORG.id, name: DEFAULT_ORG.name };
    expect(await res.json()).toEqual({
      organization: org,
      homeOrganization: org,
      authorizedScope: expect.any(Array),
      OAuthClient: {
        id: CLIENT.id,
        name: CLIENT.name,
        authorizedGrantType: 'CODE',
        scope: expect.any(Array),
        state: 'active',
        organization: org,
      },
    });
  });

  it.each(['TRUE', 'yes', '1', ''])('refuses preserveIdleTTL=%j with 400', async (value) => {
    const res = await api(`/api/v2/tokens/me?preserveIdleTTL=${value}`, agent);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'invalid.query.param.value' });
  });
});

describe('DELETE /api/v2/tokens/me', () => {
  it('revokes the calling token and its refresh token, answering 200 empty', async () => {
    const tokens = emu.issueToken(AGENT_USER.id, CLIENT.id);
    const res = await api('/api/v2/tokens/me', tokens.access_token, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect(emu.isTokenActive(tokens.access_token)).toBe(false);
    expect((await api('/api/v2/tokens/me', tokens.access_token)).status).toBe(401);
    const refresh = await tokenRequest(
      emu.url,
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? '' },
      { clientId: CLIENT.id, secret: 'bff-secret' },
    );
    expect(refresh.status).toBe(400);
    expect(emu.isTokenActive(agent)).toBe(true);
  });
});

describe('GET/PUT /api/v2/tokens/timeout', () => {
  it('GET answers the org setting', async () => {
    const res = await api('/api/v2/tokens/timeout', agent);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      idleTokenTimeoutSeconds: 900,
      enableIdleTokenTimeout: false,
    });
  });

  it('PUT by an admin stores and returns the setting', async () => {
    const body = {
      idleTokenTimeoutSeconds: 1800,
      enableIdleTokenTimeout: true,
      inactivityTimeoutUnit: 'Minutes',
      inactivityTimeoutGroupsEnabled: true,
      inactivityTimeoutGroupBundles: [
        { priority: 1, timeoutSeconds: 600, inactivityTimeoutUnit: 'Minutes', groups: ['g1'] },
      ],
    };
    const res = await putTimeout(admin, body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(body);
    expect(await (await api('/api/v2/tokens/timeout', agent)).json()).toEqual(body);
  });

  it('PUT merges: a toggle keeps the stored seconds', async () => {
    await putTimeout(admin, { idleTokenTimeoutSeconds: 600 });
    const res = await putTimeout(admin, { enableIdleTokenTimeout: true });
    expect(await res.json()).toEqual({
      idleTokenTimeoutSeconds: 600,
      enableIdleTokenTimeout: true,
    });
  });

  it('PUT without directory:organization:admin: 403 missing.permissions', async () => {
    const res = await putTimeout(agent, { idleTokenTimeoutSeconds: 600 });
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toMatchObject({ code: 'missing.permissions', status: 403 });
    expect(await (await api('/api/v2/tokens/timeout', agent)).json()).toMatchObject({
      idleTokenTimeoutSeconds: 900,
    });
  });

  it.each([299, 28801, 0])('PUT %d seconds: 400 token.timeout.exceeded', async (seconds) => {
    const res = await putTimeout(admin, { idleTokenTimeoutSeconds: seconds });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({
      code: 'token.timeout.exceeded',
      details: [{ errorCode: 'token.timeout.exceeded', fieldName: 'idleTokenTimeoutSeconds' }],
    });
  });

  it('PUT in a HIPAA org caps the timeout at 900 s', async () => {
    emu.setHipaa(true);
    expect((await putTimeout(admin, { idleTokenTimeoutSeconds: 900 })).status).toBe(200);
    const res = await putTimeout(admin, { idleTokenTimeoutSeconds: 901 });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'token.timeout.exceeded.hipaa' });
  });

  it.each([
    ['an unknown field', { idleTokenTimeoutSeconds: 600, extra: 1 }, 'invalid.property'],
    ['a string number', { idleTokenTimeoutSeconds: '600' }, 'invalid.value'],
    ['a fractional number', { idleTokenTimeoutSeconds: 600.5 }, 'invalid.value'],
    ['a string boolean', { enableIdleTokenTimeout: 'true' }, 'invalid.value'],
    ['an unknown unit', { inactivityTimeoutUnit: 'Days' }, 'invalid.value'],
    [
      'a bundle priority of 6',
      { inactivityTimeoutGroupBundles: [{ priority: 6, timeoutSeconds: 600, groups: [] }] },
      'constraint.validation',
    ],
    [
      'a bundle without groups',
      { inactivityTimeoutGroupBundles: [{ priority: 1, timeoutSeconds: 600 }] },
      'constraint.validation',
    ],
    ['an array body', [], 'invalid.value'],
  ])('PUT with %s: 400 %s', async (_label, body, code) => {
    const res = await putTimeout(admin, body);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code, status: 400 });
  });

  it('PUT with malformed JSON: 400 bad.request', async () => {
    const res = await putTimeout(admin, '{"idleTokenTimeoutSeconds":');
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'bad.request' });
  });

  it('PUT with a non-JSON content type: 415', async () => {
    const res = await putTimeout(admin, 'idleTokenTimeoutSeconds=600', 'text/plain');
    expect(res.status).toBe(415);
    expect(await errorOf(res)).toMatchObject({ code: 'unsupported.media.type' });
  });

  it('PUT accepts a charset parameter on application/json', async () => {
    const res = await putTimeout(
      admin,
      { idleTokenTimeoutSeconds: 600 },
      'application/json; charset=utf-8',
    );
    expect(res.status).toBe(200);
  });
});

describe('DELETE /api/v2/tokens/{userId}', () => {
  it('without oauth:token:delete: 403', async () => {
    const res = await api(`/api/v2/tokens/${ADMIN_USER.id}`, agent, { method: 'DELETE' });
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toMatchObject({ code: 'missing.permissions' });
    expect(emu.isTokenActive(admin)).toBe(true);
  });

  it('an unknown user: 404', async () => {
    const res = await api('/api/v2/tokens/00000000-0000-4000-8000-000000000000', admin, {
      method: 'DELETE',
    });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: 'not.found', status: 404 });
  });

  it('revokes every access and refresh token of that user, and only theirs: 204', async () => {
    const second = emu.issueToken(AGENT_USER.id, CLIENT.id);
    const res = await api(`/api/v2/tokens/${AGENT_USER.id}`, admin, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.headers.get('content-length')).toBeNull();
    expect(await res.text()).toBe('');
    expect(emu.isTokenActive(agent)).toBe(false);
    expect(emu.isTokenActive(second.access_token)).toBe(false);
    expect((await api('/api/v2/users/me', second.access_token)).status).toBe(401);
    const refresh = await tokenRequest(
      emu.url,
      { grant_type: 'refresh_token', refresh_token: second.refresh_token ?? '' },
      { clientId: CLIENT.id, secret: 'bff-secret' },
    );
    expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });
    expect(emu.isTokenActive(admin)).toBe(true);
  });
});

describe('idle token timeout', () => {
  beforeEach(() =>
    emu.setIdleTimeout({ enableIdleTokenTimeout: true, idleTokenTimeoutSeconds: 300 }),
  );

  async function tokenInfo(token: string, preserve?: boolean): Promise<Response> {
    return api(
      `/api/v2/tokens/me${preserve === undefined ? '' : `?preserveIdleTTL=${preserve}`}`,
      token,
    );
  }

  it('reports dateTokenIdles, moved by a normal call but not by preserveIdleTTL=true', async () => {
    emu.advance(100_000);
    const kept = (await (await tokenInfo(agent, true)).json()) as { dateTokenIdles: string };
    expect(kept.dateTokenIdles).toBe(new Date(START + 300_000).toISOString());
    const moved = (await (await tokenInfo(agent, false)).json()) as { dateTokenIdles: string };
    expect(moved.dateTokenIdles).toBe(new Date(START + 400_000).toISOString());
  });

  it('preserveIdleTTL=true does not keep an idle token alive', async () => {
    emu.advance(200_000);
    expect((await tokenInfo(agent, true)).status).toBe(200);
    emu.advance(100_000);
    expect((await tokenInfo(agent, true)).status).toBe(401);
    expect(emu.isTokenActive(agent)).toBe(false);
  });

  it('any other call resets the timer, HEAD included', async () => {
    emu.advance(200_000);
    expect((await tokenInfo(agent)).status).toBe(200);
    emu.advance(200_000);
    expect((await api('/api/v2/tokens/me', agent, { method: 'HEAD' })).status).toBe(200);
    emu.advance(299_000);
    expect((await api('/api/v2/users/me', agent)).status).toBe(200);
    emu.advance(300_000);
    expect((await api('/api/v2/users/me', agent)).status).toBe(401);
  });

  it('an idle token stays revoked when the timeout is switched off', async () => {
    emu.advance(300_000);
    emu.setIdleTimeout({ enableIdleTokenTimeout: false });
    expect(emu.isTokenActive(agent)).toBe(false);
  });

  it('turning the feature on starts the timers of existing tokens then', async () => {
    emu.setIdleTimeout({ enableIdleTokenTimeout: false });
    emu.advance(1_000_000);
    const res = await putTimeout(admin, { enableIdleTokenTimeout: true });
    expect(res.status).toBe(200);
    expect(emu.isTokenActive(agent)).toBe(true);
    emu.advance(300_000);
    expect(emu.isTokenActive(agent)).toBe(false);
  });
});

describe('GET /api/v2/users/me', () => {
  it('answers the user', async () => {
    const res = await api('/api/v2/users/me', admin);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      id: ADMIN_USER.id,
      name: 'Ada Admin',
      email: ADMIN_USER.email,
      username: ADMIN_USER.username,
      state: 'active',
      selfUri: `/api/v2/users/${ADMIN_USER.id}`,
    });
  });

  it('expands token and authorization', async () => {
    const res = await api('/api/v2/users/me?expand=token&expand=authorization', admin);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.token).toMatchObject({ OAuthClient: { id: CLIENT.id } });
    expect(body.authorization).toMatchObject({ permissions: ADMIN_USER.permissions });
  });
});

describe('routing', () => {
  it('an unknown route: 404 ErrorBody', async () => {
    const res = await api('/api/v2/nothing', admin);
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: 'not.found', status: 404 });
  });

  it('a wrong method: 405 ErrorBody with Allow', async () => {
    const res = await api('/api/v2/tokens/me', admin, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('HEAD, GET, DELETE');
    expect(await errorOf(res)).toMatchObject({ status: 405 });
    const timeout = await api('/api/v2/tokens/timeout', admin, { method: 'DELETE' });
    expect(timeout.status).toBe(405);
    expect(emu.isTokenActive(admin)).toBe(true);
  });
});

describe('client scopes', () => {
  it('a client without the needed scope gets 403 app.not.authorized.for.scope', async () => {
    emu.addClient({ ...CLIENT, id: 'narrow', scope: ['user-basic-info'] });
    const narrow = emu.issueToken(ADMIN_USER.id, 'narrow').access_token;
    expect((await api('/api/v2/tokens/me', narrow)).status).toBe(200);
    const res = await api('/api/v2/tokens/timeout', narrow);
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toMatchObject({ code: 'app.not.authorized.for.scope' });
  });
});

describe('the request log', () => {
  it('records method, path, query, headers, raw body and operation', async () => {
    emu.clearRequests();
    await putTimeout(admin, '{"idleTokenTimeoutSeconds":600}');
    await api('/api/v2/tokens/me?preserveIdleTTL=true', agent);
    expect(emu.requests.map((r) => r.operation)).toEqual(['putTokensTimeout', 'getTokensMe']);
    const [put] = emu.requestsFor('putTokensTimeout');
    expect(put).toMatchObject({
      method: 'PUT',
      path: '/api/v2/tokens/timeout',
      body: '{"idleTokenTimeoutSeconds":600}',
      at: START,
    });
    expect(put?.headers.authorization).toBe(`Bearer ${admin}`);
    expect(emu.requestsFor('getTokensMe')[0]?.query).toEqual({ preserveIdleTTL: 'true' });
    emu.clearRequests();
    expect(emu.requests).toHaveLength(0);
  });
});

describe('the clock', () => {
  it('stands still unless advanced', async () => {
    const before = emu.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(emu.now()).toBe(before);
    emu.advance(5_000);
    expect(emu.now()).toBe(before + 5_000);
    expect(() => emu.advance(-1)).toThrow();
  });

  it('with realTime also follows the wall clock (for the demo)', async () => {
    const live = await startEmulator({ realTime: true, startTime: START });
    try {
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(live.now()).toBeGreaterThanOrEqual(START + 25);
      live.advance(1_000);
      expect(live.now()).toBeGreaterThanOrEqual(START + 1_025);
    } finally {
      await live.close();
    }
  });
});
