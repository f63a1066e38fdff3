import http from 'node:http';
import { useHarness, type Harness } from '../support/gateway-harness';
import type { BrowserClient, ClientResponse } from '../support/browser-client';
import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';

interface AuditLine {
  audit: true;
  actor: { id: string; name: string } | null;
  action: string;
  target: string;
  method: string;
  outcome: number | null;
  requestId: string;
  [key: string]: unknown;
}

const ADMIN_ACTOR = { id: ADMIN_USER.id, name: ADMIN_USER.name };
const AGENT_ACTOR = { id: AGENT_USER.id, name: AGENT_USER.name };
const JSON_TYPE = { 'Content-Type': 'application/json' };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function auditLinesNow(h: Harness, requestId?: string): AuditLine[] {
  return h.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line): line is AuditLine => line.audit === true)
    .filter((line) => requestId === undefined || line.requestId === requestId);
}

/** The audit lines of one request: written as its response closes, so maybe just after we read it. */
async function auditLinesOf(h: Harness, requestId: string): Promise<AuditLine[]> {
  const deadline = Date.now() + 2000;
  while (auditLinesNow(h, requestId).length === 0 && Date.now() < deadline) await sleep(5);
  // A little longer, so that a second line for the same request would show.
  await sleep(20);
  return auditLinesNow(h, requestId);
}

/** The one audit line of `res`, checked against the response it describes. */
async function theAuditLineOf(h: Harness, res: ClientResponse): Promise<AuditLine> {
  const requestId = res.headers.get('x-request-id');
  expect(requestId).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  const lines = await auditLinesOf(h, requestId as string);
  expect(lines).toHaveLength(1);
  const [line] = lines as [AuditLine];
  expect(line.outcome).toBe(res.status);
  return line;
}

/** The access token the gateway holds for the user who just logged in (sent on /users/me). */
function lastAccessToken(h: Harness): string {
  const auth = h.emulator.requestsFor('getUsersMe').at(-1)?.headers.authorization;
  expect(auth).toMatch(/^Bearer \S+$/);
  const token = String(auth).slice('Bearer '.length);
  expect(h.emulator.isTokenActive(token)).toBe(true);
  return token;
}

describe('the admin audit log', () => {
  const h = useHarness();
  let admin: BrowserClient;
  let agent: BrowserClient;
  let adminToken: string;
  let agentToken: string;

  beforeEach(async () => {
    admin = await h.login(ADMIN_USER);
    adminToken = lastAccessToken(h);
    agent = await h.login(AGENT_USER);
    agentToken = lastAccessToken(h);
    expect(agentToken).not.toBe(adminToken);
    h.logs.length = 0;
  });
  afterEach(() => {
    // Whatever a test did, shutdown included (the harness has closed), no log line holds a token.
    for (const line of h.logs) {
      expect(line).not.toContain(adminToken);
      expect(line).not.toContain(agentToken);
    }
  });

  it('a successful read: actor, action, target, outcome 200 and the X-Request-Id', async () => {
    const res = await admin.get('/admin/tokens/timeout', { csrf: true });
    expect(res.status).toBe(200);
    const line = await theAuditLineOf(h, res);
    expect(line).toMatchObject({
      level: 'info',
      msg: 'admin action',
      actor: ADMIN_ACTOR,
      action: 'tokens.timeout.read',
      target: 'organization',
      method: 'GET',
      outcome: 200,
    });
    expect(line.requestId).toBe(res.headers.get('x-request-id'));
  });

  it("keeps the caller's own X-Request-Id as the line's requestId", async () => {
    const res = await admin.get('/admin/tokens/timeout', {
      csrf: true,
      headers: { 'X-Request-Id': 'audit-trace-42' },
    });
    expect(res.headers.get('x-request-id')).toBe('audit-trace-42');
    expect((await theAuditLineOf(h, res)).requestId).toBe('audit-trace-42');
  });

  it('a successful update is audited as tokens.timeout.update', async () => {
    const res = await admin.request('PUT', '/admin/tokens/timeout', {
      csrf: true,
      headers: JSON_TYPE,
      body: JSON.stringify({ idleTokenTimeoutSeconds: 1200 }),
    });
    expect(res.status).toBe(200);
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: ADMIN_ACTOR,
      action: 'tokens.timeout.update',
      target: 'organization',
    });
  });

  it('a successful revoke names the revoked user as the target', async () => {
    const res = await admin.request('DELETE', `/admin/users/${AGENT_USER.id}/tokens`, {
      csrf: true,
    });
    expect(res.status).toBe(204);
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: ADMIN_ACTOR,
      action: 'user.tokens.revoke',
      target: AGENT_USER.id,
      method: 'DELETE',
      outcome: 204,
    });
  });

  it('a self-revoke still names the actor whose session it just ended', async () => {
    const res = await admin.request('DELETE', `/admin/users/${ADMIN_USER.id}/tokens`, {
      csrf: true,
    });
    expect(res.status).toBe(204);
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: ADMIN_ACTOR,
      action: 'user.tokens.revoke',
      target: ADMIN_USER.id,
    });
  });

  it('attack: a forged request refused by anti-forgery (403) is audited with what it attempted', async () => {
    const res = await admin.request('DELETE', `/admin/users/${AGENT_USER.id}/tokens`);
    expect(res.status).toBe(403);
    // Refused before the session is read, so no actor is known.
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: null,
      action: 'user.tokens.revoke',
      target: AGENT_USER.id,
      outcome: 403,
    });
  });

  it('a request without a session (401) is audited with a null actor', async () => {
    const res = await h.client().get('/admin/tokens/timeout', { csrf: true });
    expect(res.status).toBe(401);
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: null,
      action: 'tokens.timeout.read',
      target: 'organization',
      outcome: 401,
    });
  });

  it('an invalid body (400) is audited as the update it attempted', async () => {
    const res = await admin.request('PUT', '/admin/tokens/timeout', {
      csrf: true,
      headers: JSON_TYPE,
      body: JSON.stringify({ idleTokenTimeoutSeconds: 299 }),
    });
    expect(res.status).toBe(400);
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: ADMIN_ACTOR,
      action: 'tokens.timeout.update',
      outcome: 400,
    });
  });

  it('attack: a path-trick user id (400) is audited with the id exactly as sent', async () => {
    const res = await admin.request('DELETE', '/admin/users/..%2F..%2Ftimeout/tokens', {
      csrf: true,
    });
    expect(res.status).toBe(400);
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: ADMIN_ACTOR,
      action: 'user.tokens.revoke',
      target: '..%2F..%2Ftimeout',
      outcome: 400,
    });
  });

  it("Genesys's 403 for an agent is audited with the agent as actor", async () => {
    const res = await agent.request('DELETE', `/admin/users/${ADMIN_USER.id}/tokens`, {
      csrf: true,
    });
    expect(res.status).toBe(403);
    expect(await theAuditLineOf(h, res)).toMatchObject({
      actor: AGENT_ACTOR,
      action: 'user.tokens.revoke',
      target: ADMIN_USER.id,
      outcome: 403,
    });
  });

  it('writes exactly one audit line per admin request and none for other routes', async () => {
    const responses = [
      await admin.get('/admin/tokens/timeout', { csrf: true }),
      await admin.get('/admin/tokens/timeout'),
      await agent.request('PUT', '/admin/tokens/timeout', {
        csrf: true,
        headers: JSON_TYPE,
        body: '{}',
      }),
      await admin.request('POST', '/admin/tokens/timeout', { csrf: true }),
      await admin.get('/session', { csrf: true }),
      await admin.get('/healthz'),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 403, 403, 405, 200, 200]);
    await auditLinesOf(h, responses[3]?.headers.get('x-request-id') as string);
    const lines = auditLinesNow(h);
    expect(lines.map((l) => l.requestId)).toEqual(
      responses.slice(0, 4).map((r) => r.headers.get('x-request-id')),
    );
    expect(lines[3]).toMatchObject({ action: 'unknown', method: 'POST', outcome: 405 });
  });

  it('an absolute-form request target is audited as the route it reached', async () => {
    const url = new URL('/admin/tokens/timeout', h.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: url.toString(),
        headers: {
          'X-CSRF': '1',
          'X-Request-Id': 'absolute-1',
          Cookie: admin.cookieHeaderFor(url),
        },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    const lines = await auditLinesOf(h, 'absolute-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      actor: ADMIN_ACTOR,
      action: 'tokens.timeout.read',
      target: 'organization',
      outcome: 200,
    });
  });

  it('a client that hangs up before the answer is still audited, with a null outcome', async () => {
    h.emulator.fault({ operation: 'deleteToken' }, { latencyMs: 300 });
    const url = new URL(`/admin/users/${AGENT_USER.id}/tokens`, h.url);
    const req = http.request(url, {
      method: 'DELETE',
      headers: {
        'X-CSRF': '1',
        'X-Request-Id': 'hung-up-1',
        Cookie: admin.cookieHeaderFor(url),
      },
    });
    req.on('error', () => undefined);
    req.end();
    await sleep(100);
    req.destroy();
    const lines = await auditLinesOf(h, 'hung-up-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      actor: ADMIN_ACTOR,
      action: 'user.tokens.revoke',
      target: AGENT_USER.id,
      outcome: null,
    });
  });
});
