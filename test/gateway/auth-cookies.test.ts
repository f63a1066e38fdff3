import type express from 'express';
import request from 'supertest';
import { loadConfig } from '../../config/load-config';
import { createApp } from '../../server/http/app';
import { silentLogger } from '../../server/core/logger';
import { createMetrics } from '../../server/core/metrics';
import { MemorySessionStore } from '../../server/stores/memory';
import { AGENT_USER, startEmulator, type GenesysEmulator } from '../../emulator/genesys-emulator';
import {
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  TEST_SESSION_SECRET,
  beginLogin,
  setCookieLines,
  startHarness,
  storedTokenSets,
  type Harness,
} from '../support/gateway-harness';

/** Attribute names of one Set-Cookie line, lower-cased, mapped to their values ('' when bare). */
function attributesOf(line: string): Map<string, string> {
  const [, ...parts] = line.split(';').map((part) => part.trim());
  return new Map(
    parts.map((part) => {
      const eq = part.indexOf('=');
      return eq < 0
        ? [part.toLowerCase(), '']
        : [part.slice(0, eq).toLowerCase(), part.slice(eq + 1)];
    }),
  );
}

function valueOf(line: string): string {
  return line.slice(line.indexOf('=') + 1, line.indexOf(';'));
}

function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

describe('session and login cookies over http (loopback)', () => {
  let h: Harness;

  afterEach(async () => {
    await h?.close();
  });

  it('sets the session cookie HttpOnly, SameSite=Strict, Path=/ and without Domain', async () => {
    h = await startHarness();
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    const res = await browser.get(login.callbackUrl);

    const line = only(setCookieLines(res.headers, 'bff.sid'));
    const attrs = attributesOf(line);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Strict');
    expect(attrs.get('path')).toBe('/');
    expect(attrs.has('domain')).toBe(false);
    // Plain http on loopback: Secure would make the browser drop the cookie.
    expect(attrs.has('secure')).toBe(false);
  });

  it('puts only the signed session id in the session cookie, never a token', async () => {
    h = await startHarness();
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    const res = await browser.get(login.callbackUrl);

    const value = decodeURIComponent(valueOf(only(setCookieLines(res.headers, 'bff.sid'))));
    const [sid] = Object.keys(await h.store.allSessions());
    // express-session's signed form: s:<id>.<HMAC-SHA256, base64>.
    expect(value).toMatch(/^s:[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]{43}$/);
    expect(value.slice(2, value.indexOf('.'))).toBe(sid);
    const [tokens] = await storedTokenSets(h);
    expect(tokens?.accessToken.length).toBeGreaterThan(20);
    expect(value).not.toContain(tokens?.accessToken);
    expect(value).not.toContain(tokens?.refreshToken);
  });

  it('sets the session cookie SameSite=Lax when SESSION_COOKIE_SAMESITE=lax', async () => {
    h = await startHarness({ env: { SESSION_COOKIE_SAMESITE: 'lax' } });
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    const res = await browser.get(login.callbackUrl);
    const attrs = attributesOf(only(setCookieLines(res.headers, 'bff.sid')));
    expect(attrs.get('samesite')).toBe('Lax');
    expect(attrs.has('httponly')).toBe(true);
  });

  it('keeps the login transaction in its own Lax cookie scoped to /auth/callback for 10 minutes', async () => {
    h = await startHarness();
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER, { returnTo: '/where-i-was' });

    expect(login.loginCookie.name).toMatch(/^bff-login-/);
    const attrs = attributesOf(login.loginCookie.line);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Lax');
    expect(attrs.get('path')).toBe('/auth/callback');
    expect(attrs.get('max-age')).toBe('600');
    expect(attrs.has('domain')).toBe(false);
    // The PKCE verifier and returnTo are sealed, not readable in the cookie.
    expect(login.loginCookie.value).not.toContain('where-i-was');
    const res = await browser.get(login.callbackUrl);
    const verifier = new URLSearchParams(h.emulator.requestsFor('token')[0]?.body).get(
      'code_verifier',
    );
    expect(verifier).toMatch(/^[A-Za-z0-9._~-]{43,128}$/);
    expect(login.loginCookie.value).not.toContain(verifier);

    // One use: the callback deletes it with the same path.
    const cleared = attributesOf(only(setCookieLines(res.headers, login.loginCookie.name)));
    expect(cleared.get('path')).toBe('/auth/callback');
    expect(Date.parse(cleared.get('expires') ?? '')).toBeLessThan(Date.now());
  });
});

describe('session and login cookies over https behind a TLS-terminating proxy', () => {
  const PUBLIC = 'https://app.example.com';
  let emulator: GenesysEmulator;
  let store: MemorySessionStore;
  let app: express.Express;

  beforeEach(async () => {
    emulator = await startEmulator();
    emulator.addClient({
      id: TEST_CLIENT_ID,
      secret: TEST_CLIENT_SECRET,
      name: 'tokens-bff https tests',
      redirectUris: [`${PUBLIC}/auth/callback`],
    });
    emulator.autoApprove(AGENT_USER.id);
    const config = loadConfig({
      PUBLIC_BASE_URL: PUBLIC,
      TRUST_PROXY: 'true',
      GENESYS_API_BASE_URL: emulator.url,
      GENESYS_LOGIN_BASE_URL: emulator.url,
      OAUTH_CLIENT_ID: TEST_CLIENT_ID,
      OAUTH_CLIENT_SECRET: TEST_CLIENT_SECRET,
      SESSION_SECRET: TEST_SESSION_SECRET,
      SESSION_STORE: 'memory',
      UPSTREAM_TIMEOUT_MS: '1000',
    });
    const clock = (): number => emulator.now();
    store = new MemorySessionStore({ clock, sweepIntervalMs: 0 });
    app = createApp(config, { logger: silentLogger(), store, metrics: createMetrics(), clock });
  });

  afterEach(async () => {
    await store.close();
    await emulator.close();
  });

  function setCookies(res: request.Response): string[] {
    return (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
  }

  /** The login as a browser does it, through the proxy (X-Forwarded-Proto: https). */
  async function loginOverHttps(): Promise<{
    start: request.Response;
    callback: request.Response;
  }> {
    const start = await request(app).get('/auth/login').set('X-Forwarded-Proto', 'https');
    expect(start.status).toBe(302);
    // The transaction and its binding: a browser sends both back to the callback.
    const pair = (line: string): string => line.slice(0, line.indexOf(';'));
    expect(setCookies(start)).toHaveLength(2);
    const authorize = await fetch(start.headers.location ?? '', { redirect: 'manual' });
    expect(authorize.status).toBe(302);
    const back = new URL(authorize.headers.get('location') ?? '');
    expect(back.origin).toBe(PUBLIC);
    const callback = await request(app)
      .get(`${back.pathname}${back.search}`)
      .set('X-Forwarded-Proto', 'https')
      .set('Cookie', setCookies(start).map(pair).join('; '));
    return { start, callback };
  }

  it('names the session cookie __Host-Http-session and marks it Secure, Path=/, no Domain', async () => {
    const { callback } = await loginOverHttps();
    expect(callback.status).toBe(302);
    const lines = setCookies(callback).filter((l) => l.startsWith('__Host-Http-session='));
    const attrs = attributesOf(only(lines));
    expect(attrs.has('secure')).toBe(true);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('path')).toBe('/');
    expect(attrs.get('samesite')).toBe('Strict');
    expect(attrs.has('domain')).toBe(false);

    // The cookie works through the proxy.
    const session = await request(app)
      .get('/session')
      .set('X-Forwarded-Proto', 'https')
      .set('X-CSRF', '1')
      .set('Cookie', only(lines).slice(0, only(lines).indexOf(';')));
    expect(session.status).toBe(200);
  });

  it('gives the login cookie Secure and the __Secure- prefix (not __Host-: it is scoped to the callback)', async () => {
    const { start } = await loginOverHttps();
    const line = only(setCookies(start).filter((l) => l.startsWith('__Secure-')));
    expect(line).toMatch(/^__Secure-bff-login-/);
    const attrs = attributesOf(line);
    expect(attrs.has('secure')).toBe(true);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Lax');
    expect(attrs.get('path')).toBe('/auth/callback');
    expect(attrs.get('max-age')).toBe('600');
  });

  it('binds the login with a small __Host- cookie that no sibling subdomain can plant', async () => {
    const { start } = await loginOverHttps();
    const line = only(setCookies(start).filter((l) => l.startsWith('__Host-')));
    expect(line).toMatch(/^__Host-bff-bind-[A-Za-z0-9_-]{16}=[0-9a-z]+\.[A-Za-z0-9_-]{22};/);
    expect(line.indexOf(';')).toBeLessThan(80);
    const attrs = attributesOf(line);
    expect(attrs.has('secure')).toBe(true);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.has('domain')).toBe(false);
    expect(attrs.get('samesite')).toBe('Lax');
    expect(attrs.get('path')).toBe('/');
    expect(attrs.get('max-age')).toBe('600');
  });

  it('clears both cookies with Secure and their own Path, or browsers would ignore the deletion', async () => {
    const { start, callback } = await loginOverHttps();
    for (const line of setCookies(start)) {
      const name = line.split('=')[0] ?? '';
      const cleared = only(setCookies(callback).filter((l) => l.startsWith(`${name}=;`)));
      expect(attributesOf(cleared).has('secure')).toBe(true);
      expect(attributesOf(cleared).get('path')).toBe(attributesOf(line).get('path'));
    }

    const session = only(setCookies(callback).filter((l) => l.startsWith('__Host-Http-session=')));
    const logout = await request(app)
      .post('/auth/logout')
      .set('X-Forwarded-Proto', 'https')
      .set('Origin', PUBLIC)
      .set('Cookie', session.slice(0, session.indexOf(';')));
    expect(logout.status).toBe(303);
    const gone = only(setCookies(logout).filter((l) => l.startsWith('__Host-Http-session=')));
    const attrs = attributesOf(gone);
    expect(valueOf(gone)).toBe('');
    expect(attrs.has('secure')).toBe(true);
    expect(attrs.get('path')).toBe('/');
    expect(attrs.has('domain')).toBe(false);
    expect(Date.parse(attrs.get('expires') ?? '')).toBeLessThan(Date.now());
    expect(await store.countSessions()).toBe(0);
  });

  it('sends Genesys the https redirect URI of the public origin', async () => {
    const { start } = await loginOverHttps();
    const authorize = new URL(start.headers.location ?? '');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${PUBLIC}/auth/callback`);
    const form = new URLSearchParams(emulator.requestsFor('token')[0]?.body);
    expect(form.get('redirect_uri')).toBe(`${PUBLIC}/auth/callback`);
  });
});
