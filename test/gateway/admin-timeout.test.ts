import http from 'node:http';
import { useHarness, type Harness } from '../support/gateway-harness';
import type { BrowserClient, ClientResponse } from '../support/browser-client';
import { ADMIN_USER, AGENT_USER, type IdleTokenTimeout } from '../../emulator/genesys-emulator';
import { sessionIdsOfUser } from '../support/store-contents';

const JSON_TYPE = { 'Content-Type': 'application/json' };
const GROUP = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const SECONDS = 'must be an integer between 300 and 28800';
const BOOLEAN = 'must be true or false';
const UNIT = 'must be "Minutes" or "Hours"';
const PRIORITY = 'must be an integer between 1 and 5';
const NOT_A_FIELD = 'is not a field of IdleTokenTimeout';
const OBJECT = 'must be a JSON object (IdleTokenTimeout)';

const bundle = {
  priority: 1,
  timeoutSeconds: 600,
  inactivityTimeoutUnit: 'Minutes',
  groups: [GROUP],
};

function putTimeout(client: BrowserClient, body: string): Promise<ClientResponse> {
  return client.request('PUT', '/admin/tokens/timeout', { csrf: true, headers: JSON_TYPE, body });
}

function problemOf(res: ClientResponse): Record<string, unknown> {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body.status).toBe(res.status);
  expect(body.requestId).toBe(res.headers.get('x-request-id'));
  return body;
}

/** A request that fetch cannot make (no Content-Type with a body, a GET with a body). */
function rawRequest(
  h: Harness,
  client: BrowserClient,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  const url = new URL(path, h.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        headers: {
          ...headers,
          'X-CSRF': '1',
          Cookie: client.cookieHeaderFor(url),
          'Content-Length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('GET /admin/tokens/timeout', () => {
  const h = useHarness();

  it('answers 200 with the IdleTokenTimeout exactly as Genesys sent it', async () => {
    const setting: IdleTokenTimeout = {
      idleTokenTimeoutSeconds: 3600,
      enableIdleTokenTimeout: true,
      inactivityTimeoutUnit: 'Hours',
      inactivityTimeoutGroupsEnabled: true,
      inactivityTimeoutGroupBundles: [{ ...bundle, inactivityTimeoutUnit: 'Minutes' }],
    };
    h.emulator.setIdleTimeout(setting);
    const admin = await h.login(ADMIN_USER);
    h.emulator.clearRequests();
    const res = await admin.get('/admin/tokens/timeout', { csrf: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json()).toEqual(setting);
    const [sent] = h.emulator.requestsFor('getTokensTimeout');
    expect(sent?.headers.authorization).toMatch(/^Bearer \S+$/);
    expect(sent?.headers['inin-correlation-id']).toBe(res.headers.get('x-request-id'));
    expect(sent?.headers.cookie).toBeUndefined();
    expect(sent?.headers['x-csrf']).toBeUndefined();
  });

  it('without a session answers 401 problem+json and calls nobody', async () => {
    h.emulator.clearRequests();
    const res = await h.client().get('/admin/tokens/timeout', { csrf: true });
    expect(res.status).toBe(401);
    expect(problemOf(res).type).toBe('urn:tokens-bff:problem:unauthenticated');
    expect(h.emulator.requests).toEqual([]);
  });

  it('attack: a forged request without X-CSRF gets 403 and never reaches Genesys', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.clearRequests();
    const res = await admin.get('/admin/tokens/timeout');
    expect(res.status).toBe(403);
    expect(problemOf(res).detail).toMatch(/X-CSRF/);
    expect(h.emulator.requests).toEqual([]);
  });

  it('attack: a body smuggled on a GET is dropped, never sent upstream as a second request', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.clearRequests();
    const smuggled =
      'PUT /api/v2/tokens/timeout HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}';
    const res = await rawRequest(h, admin, 'GET', '/admin/tokens/timeout', {}, smuggled);
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(h.emulator.requests.map((r) => r.operation)).toEqual(['getTokensTimeout']);
  });

  it.each(['/admin/tokens/timeout/', '/ADMIN/tokens/timeout', '/admin/Tokens/timeout'])(
    'attack: the alias %s is an unknown route (404), not a way around the /admin middleware',
    async (path) => {
      const admin = await h.login(ADMIN_USER);
      h.emulator.clearRequests();
      const res = await admin.get(path, { csrf: true });
      expect(res.status).toBe(404);
      expect(problemOf(res).type).toBe('urn:tokens-bff:problem:not-found');
      expect(h.emulator.requests).toEqual([]);
    },
  );

  it('when Genesys answers 401, ends the local session: 401, cookie cleared, no later upstream call', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.fault({ operation: 'getTokensTimeout', times: 1 }, { status: 401 });
    const res = await admin.get('/admin/tokens/timeout', { csrf: true });
    expect(res.status).toBe(401);
    expect(problemOf(res).type).toBe('urn:tokens-bff:problem:unauthenticated');
    expect(admin.cookies.size).toBe(0);
    expect(await sessionIdsOfUser(h.store, ADMIN_USER.id)).toEqual([]);
    h.emulator.clearRequests();
    const again = await admin.get('/admin/tokens/timeout', { csrf: true });
    expect(again.status).toBe(401);
    expect(h.emulator.requests).toEqual([]);
  });
});

describe('PUT /admin/tokens/timeout', () => {
  const h = useHarness();

  it('as an admin, changes the org setting: 200, and a later GET shows it', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.clearRequests();
    const update = {
      idleTokenTimeoutSeconds: 1200,
      enableIdleTokenTimeout: true,
      inactivityTimeoutGroupsEnabled: true,
      inactivityTimeoutGroupBundles: [bundle],
    };
    const res = await putTimeout(admin, JSON.stringify(update));
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject(update);
    const [sent] = h.emulator.requestsFor('putTokensTimeout');
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(sent?.body ?? '')).toEqual(update);
    const later = await admin.get('/admin/tokens/timeout', { csrf: true });
    expect(later.json()).toMatchObject(update);
  });

  it("as an agent without the permission, passes Genesys's 403 through and changes nothing", async () => {
    const agent = await h.login(AGENT_USER);
    const res = await putTimeout(agent, JSON.stringify({ idleTokenTimeoutSeconds: 1200 }));
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json()).toMatchObject({ status: 403, code: 'missing.permissions' });
    expect(h.emulator.requestsFor('putTokensTimeout')).toHaveLength(1);
    const after = await agent.get('/admin/tokens/timeout', { csrf: true });
    expect(after.json()).toMatchObject({ idleTokenTimeoutSeconds: 900 });
  });

  it("in a HIPAA org, passes Genesys's 400 token.timeout.exceeded.hipaa through for 1800 s", async () => {
    h.emulator.setHipaa(true);
    const admin = await h.login(ADMIN_USER);
    const res = await putTimeout(admin, JSON.stringify({ idleTokenTimeoutSeconds: 1800 }));
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json()).toMatchObject({ status: 400, code: 'token.timeout.exceeded.hipaa' });
    expect(h.emulator.requestsFor('putTokensTimeout')).toHaveLength(1);
  });

  it('passes an upstream 429 through with its Retry-After and ErrorBody', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.fault(
      { operation: 'putTokensTimeout' },
      { status: 429, headers: { 'Retry-After': '7' } },
    );
    const res = await putTimeout(admin, JSON.stringify({ idleTokenTimeoutSeconds: 1200 }));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.json()).toMatchObject({ status: 429, code: 'too.many.requests.retry.after' });
  });

  it('passes an upstream 500 through with its ErrorBody', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.fault({ operation: 'putTokensTimeout' }, { status: 500 });
    const res = await putTimeout(admin, JSON.stringify({ idleTokenTimeoutSeconds: 1200 }));
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json()).toMatchObject({ status: 500 });
  });

  it('answers 504 problem+json when Genesys is slower than UPSTREAM_TIMEOUT_MS', async () => {
    const admin = await h.login(ADMIN_USER);
    h.emulator.fault({ operation: 'putTokensTimeout' }, { latencyMs: 1500 });
    const started = Date.now();
    const res = await putTimeout(admin, JSON.stringify({ idleTokenTimeoutSeconds: 1200 }));
    expect(res.status).toBe(504);
    expect(problemOf(res).type).toBe('urn:tokens-bff:problem:upstream-timeout');
    expect(Date.now() - started).toBeLessThan(1450);
  });
});

describe('PUT /admin/tokens/timeout with a bad body', () => {
  // One gateway for these read-only cases: none of them may change anything, which each asserts.
  const h = useHarness({}, { shared: true });
  let admin: BrowserClient;
  beforeAll(async () => {
    admin = await h.login(ADMIN_USER);
  });
  beforeEach(() => h.emulator.clearRequests());
  afterEach(() => expect(h.emulator.requests).toEqual([]));

  it.each<[string, unknown, [string, string][]]>([
    [
      'idleTokenTimeoutSeconds 299',
      { idleTokenTimeoutSeconds: 299 },
      [['idleTokenTimeoutSeconds', SECONDS]],
    ],
    [
      'idleTokenTimeoutSeconds 28801',
      { idleTokenTimeoutSeconds: 28801 },
      [['idleTokenTimeoutSeconds', SECONDS]],
    ],
    [
      'idleTokenTimeoutSeconds 3.5',
      { idleTokenTimeoutSeconds: 3.5 },
      [['idleTokenTimeoutSeconds', SECONDS]],
    ],
    [
      'idleTokenTimeoutSeconds "600"',
      { idleTokenTimeoutSeconds: '600' },
      [['idleTokenTimeoutSeconds', SECONDS]],
    ],
    [
      'enableIdleTokenTimeout "yes"',
      { enableIdleTokenTimeout: 'yes' },
      [['enableIdleTokenTimeout', BOOLEAN]],
    ],
    [
      'inactivityTimeoutUnit "Days"',
      { inactivityTimeoutUnit: 'Days' },
      [['inactivityTimeoutUnit', UNIT]],
    ],
    [
      'inactivityTimeoutGroupsEnabled 1',
      { inactivityTimeoutGroupsEnabled: 1 },
      [['inactivityTimeoutGroupsEnabled', BOOLEAN]],
    ],
    [
      'a bundle with priority 0',
      { inactivityTimeoutGroupBundles: [{ ...bundle, priority: 0 }] },
      [['inactivityTimeoutGroupBundles[0].priority', PRIORITY]],
    ],
    [
      'a bundle with priority 6',
      { inactivityTimeoutGroupBundles: [{ ...bundle, priority: 6 }] },
      [['inactivityTimeoutGroupBundles[0].priority', PRIORITY]],
    ],
    [
      'a bundle with timeoutSeconds 100',
      { inactivityTimeoutGroupBundles: [{ ...bundle, timeoutSeconds: 100 }] },
      [['inactivityTimeoutGroupBundles[0].timeoutSeconds', SECONDS]],
    ],
    [
      'bundle groups not an array',
      { inactivityTimeoutGroupBundles: [{ ...bundle, groups: GROUP }] },
      [['inactivityTimeoutGroupBundles[0].groups', 'must be a list of at most 1000 group ids']],
    ],
    [
      'bundle groups containing a number',
      { inactivityTimeoutGroupBundles: [{ ...bundle, groups: [GROUP, 42] }] },
      [
        [
          'inactivityTimeoutGroupBundles[0].groups[1]',
          'must be a group id (a string of 1 to 128 characters)',
        ],
      ],
    ],
    [
      'an unknown bundle field',
      { inactivityTimeoutGroupBundles: [{ ...bundle, level: 'gold' }] },
      [['inactivityTimeoutGroupBundles[0].level', 'is not a field of a group bundle']],
    ],
    [
      'an unknown top-level field',
      { idleTokenTimeoutSeconds: 600, maxSessions: 3 },
      [['maxSessions', NOT_A_FIELD]],
    ],
    [
      'several bad fields at once',
      {
        idleTokenTimeoutSeconds: 28801,
        enableIdleTokenTimeout: 'yes',
        inactivityTimeoutUnit: 'Days',
        inactivityTimeoutGroupBundles: [{ ...bundle, priority: 6 }],
        extra: 1,
      },
      [
        ['idleTokenTimeoutSeconds', SECONDS],
        ['enableIdleTokenTimeout', BOOLEAN],
        ['inactivityTimeoutUnit', UNIT],
        ['inactivityTimeoutGroupBundles[0].priority', PRIORITY],
        ['extra', NOT_A_FIELD],
      ],
    ],
    ['an array body', [], [['(body)', OBJECT]]],
    ['a null body', null, [['(body)', OBJECT]]],
    ['a string body', 'x', [['(body)', OBJECT]]],
  ])('refuses %s with 400 naming each bad field, and calls nobody', async (_case, body, bad) => {
    const res = await putTimeout(admin, JSON.stringify(body));
    expect(res.status).toBe(400);
    const problem = problemOf(res);
    expect(problem.type).toBe('urn:tokens-bff:problem:bad-request');
    expect(problem.errors).toEqual(bad.map(([field, message]) => ({ field, message })));
    for (const [field, message] of bad) {
      expect(problem.detail).toContain(
        `${field === '(body)' ? 'the request body' : field} ${message}`,
      );
    }
  });

  it('refuses malformed JSON with 400', async () => {
    const res = await putTimeout(admin, '{"idleTokenTimeoutSeconds": 600');
    expect(res.status).toBe(400);
    expect(problemOf(res)).toMatchObject({
      type: 'urn:tokens-bff:problem:malformed-json',
      detail: 'The request body is not valid JSON.',
    });
  });

  it('refuses Content-Type: text/plain with 415', async () => {
    const res = await admin.request('PUT', '/admin/tokens/timeout', {
      csrf: true,
      headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ idleTokenTimeoutSeconds: 600 }),
    });
    expect(res.status).toBe(415);
    expect(problemOf(res).detail).toMatch(/application\/json/);
  });

  it('refuses a body without a Content-Type with 415', async () => {
    const body = JSON.stringify({ idleTokenTimeoutSeconds: 600 });
    const res = await rawRequest(h, admin, 'PUT', '/admin/tokens/timeout', {}, body);
    expect(res.status).toBe(415);
    expect(JSON.parse(res.text)).toMatchObject({ status: 415 });
  });

  it('refuses a body over the limit (100 KB of groups) with 413', async () => {
    const groups = Array.from({ length: 2800 }, () => GROUP);
    const body = JSON.stringify({ inactivityTimeoutGroupBundles: [{ ...bundle, groups }] });
    expect(body.length).toBeGreaterThan(100_000);
    const res = await putTimeout(admin, body);
    expect(res.status).toBe(413);
    expect(problemOf(res).type).toBe('urn:tokens-bff:problem:body-too-large');
  });

  it.each([
    ['__proto__', '{"__proto__":{"polluted":1}}'],
    ['constructor', '{"constructor":{"prototype":{"polluted":1}}}'],
    ['a nested __proto__', '{"inactivityTimeoutGroupBundles":[{"__proto__":{"polluted":1}}]}'],
  ])(
    'attack: prototype pollution through %s is refused with 400 and pollutes nothing',
    async (_key, body) => {
      const res = await putTimeout(admin, body);
      expect(res.status).toBe(400);
      expect(problemOf(res).detail).toMatch(/(__proto__|constructor) is not a field/);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    },
  );
});
