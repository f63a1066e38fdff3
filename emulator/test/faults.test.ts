import type { EmulatorClient, GenesysEmulator } from '../genesys-emulator';
import { AGENT_USER, startEmulator } from '../genesys-emulator';
import { MALFORMED_JSON } from '../faults';
import { tokenRequest } from '../flow-helpers';

const CLIENT: EmulatorClient = {
  id: 'fault-client',
  secret: 'fault-secret',
  name: 'Faults',
  redirectUris: ['http://app.test/auth/callback'],
};

let emu: GenesysEmulator;
let token: string;

beforeEach(async () => {
  emu = await startEmulator({ clients: [CLIENT] });
  token = emu.issueToken(AGENT_USER.id, CLIENT.id).access_token;
});

afterEach(async () => {
  await emu.close();
});

function tokenInfo(init: RequestInit = {}): Promise<Response> {
  return fetch(`${emu.url}/api/v2/tokens/me`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'ININ-Correlation-Id': 'corr-1' },
  });
}

describe('faults', () => {
  it('latencyMs delays the normal answer', async () => {
    emu.fault({ operation: 'getTokensMe' }, { latencyMs: 150 });
    const started = Date.now();
    const res = await tokenInfo();
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('status 429 alone makes a realistic rate-limit answer with Retry-After', async () => {
    emu.fault({ operation: 'getTokensMe' }, { status: 429 });
    const res = await tokenInfo();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('inin-correlation-id')).toBe('corr-1');
    expect(res.headers.get('inin-ratelimit-allowed')).toBe('300');
    expect(await res.json()).toMatchObject({
      code: 'too.many.requests.retry.after',
      status: 429,
      message: 'Rate limit exceeded the maximum. Retry the request in [1] seconds',
      contextId: 'corr-1',
    });
  });

  it('a 429 with its own Retry-After names that wait', async () => {
    emu.fault({ operation: 'getTokensMe' }, { status: 429, headers: { 'Retry-After': '7' } });
    const res = await tokenInfo();
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toMatchObject({
      message: 'Rate limit exceeded the maximum. Retry the request in [7] seconds',
    });
  });

  it.each([
    [500, 'internal.server.error'],
    [503, 'service.unavailable'],
  ])('status %d makes an ErrorBody with code %s', async (status, code) => {
    emu.fault({ method: 'GET', path: '/api/v2/tokens/me' }, { status });
    const res = await tokenInfo();
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ status, code, contextId: 'corr-1' });
  });

  it('status on the token endpoint makes an OAuth error', async () => {
    emu.fault({ operation: 'token' }, { status: 503 });
    const res = await tokenRequest(emu.url, { grant_type: 'client_credentials' });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });

  it('body overrides the answer (200 when no status is given)', async () => {
    emu.fault({ operation: 'getTokensTimeout' }, { body: { idleTokenTimeoutSeconds: 4242 } });
    const res = await fetch(`${emu.url}/api/v2/tokens/timeout`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ idleTokenTimeoutSeconds: 4242 });
  });

  it('status with a string body sends that body', async () => {
    emu.fault(
      { operation: 'getTokensMe' },
      { status: 502, body: '<html>bad gateway</html>', headers: { 'Content-Type': 'text/html' } },
    );
    const res = await tokenInfo();
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(await res.text()).toBe('<html>bad gateway</html>');
  });

  it('headers alone decorate the normal answer', async () => {
    emu.fault(
      { operation: 'getTokensMe' },
      { headers: { 'X-Extra': 'yes', 'inin-ratelimit-count': '299' } },
    );
    const res = await tokenInfo();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-extra')).toBe('yes');
    expect(res.headers.get('inin-ratelimit-count')).toBe('299');
    expect(await res.json()).toHaveProperty('OAuthClient');
  });

  it('reset destroys the socket: the client sees a connection error', async () => {
    emu.fault({ operation: 'getTokensMe' }, { reset: true });
    const err = (await tokenInfo().then(
      () => undefined,
      (e: unknown) => e,
    )) as { name?: string; cause?: { code?: string } } | undefined;
    // fetch's TypeError comes from another realm than jest's, so compare by name.
    expect(err?.name).toBe('TypeError');
    expect(err?.cause?.code).toBe('ECONNRESET');
    expect(emu.requestsFor('getTokensMe')).toHaveLength(1);
  });

  it('malformed answers 200 application/json that does not parse', async () => {
    emu.fault({ operation: 'getTokensMe' }, { malformed: true });
    const res = await tokenInfo();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const text = await res.text();
    expect(text).toBe(MALFORMED_JSON);
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
  });

  it('hang never answers: the client times out', async () => {
    emu.fault({ operation: 'getTokensMe' }, { hang: true });
    const err = (await tokenInfo({ signal: AbortSignal.timeout(200) }).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error | undefined;
    expect(err?.name).toBe('TimeoutError');
  });

  it('close() ends hanging requests too', async () => {
    emu.fault({}, { hang: true });
    const pending = tokenInfo().then(
      () => 'answered',
      () => 'failed',
    );
    await waitFor(() => emu.requests.length === 1);
    await emu.close();
    expect(await pending).toBe('failed');
  });

  it('times applies the fault N times, then the normal answer returns', async () => {
    emu.fault({ operation: 'getTokensMe', times: 2 }, { status: 503 });
    expect((await tokenInfo()).status).toBe(503);
    expect((await tokenInfo()).status).toBe(503);
    expect((await tokenInfo()).status).toBe(200);
  });

  it('faults chain in the order added', async () => {
    emu.fault({ operation: 'getTokensMe', times: 1 }, { status: 500 });
    emu.fault({ operation: 'getTokensMe', times: 1 }, { status: 429 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await tokenInfo()).status);
    expect(statuses).toEqual([500, 429, 200]);
  });

  it('path as a RegExp and method narrow the match', async () => {
    emu.fault({ method: 'DELETE', path: /^\/api\/v2\/tokens\// }, { status: 500 });
    expect((await tokenInfo()).status).toBe(200);
    const res = await fetch(`${emu.url}/api/v2/tokens/me`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(500);
    expect(emu.isTokenActive(token)).toBe(true);
  });

  it('clearFaults restores normal behaviour; requests were logged all along', async () => {
    emu.fault({}, { status: 500 });
    expect((await tokenInfo()).status).toBe(500);
    emu.clearFaults();
    expect((await tokenInfo()).status).toBe(200);
    expect(emu.requestsFor('getTokensMe')).toHaveLength(2);
  });

  it('rejects a non-positive times', () => {
    expect(() => emu.fault({ times: 0 }, { status: 500 })).toThrow(/times/);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
