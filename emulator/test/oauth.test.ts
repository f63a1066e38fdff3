import type { EmulatorClient, GenesysEmulator } from '../genesys-emulator';
import { ADMIN_USER, AGENT_USER, startEmulator } from '../genesys-emulator';
import {
  authorizeRequest,
  basicAuth,
  pkcePair,
  redirectParams,
  tokenRequest,
} from '../flow-helpers';

const CALLBACK = 'http://app.test/auth/callback';
const CONFIDENTIAL: EmulatorClient = {
  id: 'conf-client',
  secret: 'conf-secret',
  name: 'BFF (confidential)',
  redirectUris: [CALLBACK, 'http://app.test/'],
};
const PUBLIC: EmulatorClient = {
  id: 'pkce-client',
  name: 'BFF (public)',
  redirectUris: [CALLBACK],
};
const CONF_AUTH = { clientId: CONFIDENTIAL.id, secret: 'conf-secret' };

let emu: GenesysEmulator;

beforeEach(async () => {
  emu = await startEmulator({ clients: [CONFIDENTIAL, PUBLIC] });
  emu.autoApprove(ADMIN_USER.id);
});

afterEach(async () => {
  await emu.close();
});

async function codeFor(client: EmulatorClient, challenge?: string): Promise<string> {
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: client.id,
    redirect_uri: CALLBACK,
    state: 'st-1',
  };
  if (challenge)
    Object.assign(params, { code_challenge: challenge, code_challenge_method: 'S256' });
  const res = await authorizeRequest(emu.url, params);
  expect(res.status).toBe(302);
  const query = redirectParams(res);
  expect(query.get('state')).toBe('st-1');
  return query.get('code') ?? '';
}

function confidentialExchange(code: string, extra: Record<string, string> = {}) {
  return tokenRequest(
    emu.url,
    { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, ...extra },
    CONF_AUTH,
  );
}

function publicExchange(code: string, verifier: string, extra: Record<string, string> = {}) {
  return tokenRequest(emu.url, {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    client_id: PUBLIC.id,
    redirect_uri: CALLBACK,
    ...extra,
  });
}

async function me(token: string): Promise<Response> {
  return fetch(`${emu.url}/api/v2/users/me`, { headers: { authorization: `Bearer ${token}` } });
}

describe('authorization code flow', () => {
  it('a confidential client gets access and refresh tokens for the approved user', async () => {
    const code = await codeFor(CONFIDENTIAL);
    const res = await confidentialExchange(code);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: 'bearer',
      expires_in: 86400,
    });
    const user = (await (await me(body.access_token as string)).json()) as { id: string };
    expect(user.id).toBe(ADMIN_USER.id);
    expect(emu.requestsFor('token')[0]?.headers.authorization).toBe(
      basicAuth(CONFIDENTIAL.id, 'conf-secret'),
    );
  });

  it('a PKCE public client gets an access token and no refresh token', async () => {
    const { verifier, challenge } = pkcePair();
    const code = await codeFor(PUBLIC, challenge);
    const res = await publicExchange(code, verifier);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.refresh_token).toBeUndefined();
    expect(body.token_type).toBe('bearer');
    expect(emu.isTokenActive(body.access_token as string)).toBe(true);
  });

  it('a confidential client may add PKCE, and must then send the verifier', async () => {
    const { verifier, challenge } = pkcePair();
    const withoutVerifier = await confidentialExchange(await codeFor(CONFIDENTIAL, challenge));
    expect(withoutVerifier.status).toBe(400);
    expect(await withoutVerifier.json()).toMatchObject({ error: 'invalid_request' });
    const ok = await confidentialExchange(await codeFor(CONFIDENTIAL, challenge), {
      code_verifier: verifier,
    });
    expect(ok.status).toBe(200);
  });

  it('ignores login_hint and prompt', async () => {
    const res = await authorizeRequest(emu.url, {
      response_type: 'code',
      client_id: CONFIDENTIAL.id,
      redirect_uri: CALLBACK,
      login_hint: 'ada.admin@example.com',
      prompt: 'login',
    });
    expect(res.status).toBe(302);
    expect(redirectParams(res).get('code')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });

  it('tokens expire after the client lifetime on the emulator clock', async () => {
    emu.addClient({ ...CONFIDENTIAL, accessTokenLifetimeSeconds: 300 });
    const res = await confidentialExchange(await codeFor(CONFIDENTIAL));
    const body = (await res.json()) as { access_token: string; expires_in: number };
    expect(body.expires_in).toBe(300);
    emu.advance(299_000);
    expect((await me(body.access_token)).status).toBe(200);
    emu.advance(1_000);
    expect((await me(body.access_token)).status).toBe(401);
    expect(emu.isTokenActive(body.access_token)).toBe(false);
  });
});

describe('GET /oauth/authorize refuses', () => {
  it('an unknown client with an HTML page, never a redirect', async () => {
    const res = await authorizeRequest(emu.url, {
      response_type: 'code',
      client_id: 'nobody',
      redirect_uri: CALLBACK,
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('an unregistered redirect_uri with an HTML page (no open redirect)', async () => {
    const res = await authorizeRequest(emu.url, {
      response_type: 'code',
      client_id: CONFIDENTIAL.id,
      redirect_uri: 'https://evil.test/cb',
      state: 'x',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it.each([
    ['response_type=token', 'unsupported_response_type', { response_type: 'token' }],
    [
      'the plain challenge method',
      'invalid_request',
      { code_challenge: pkcePair().challenge, code_challenge_method: 'plain' },
    ],
    [
      'a challenge that is no SHA-256',
      'invalid_request',
      { code_challenge: 'too-short', code_challenge_method: 'S256' },
    ],
    ['a method without challenge', 'invalid_request', { code_challenge_method: 'S256' }],
  ])('%s by redirecting back with %s and the state', async (_label, error, extra) => {
    const res = await authorizeRequest(emu.url, {
      response_type: 'code',
      client_id: CONFIDENTIAL.id,
      redirect_uri: CALLBACK,
      state: 'keep-me',
      ...extra,
    });
    expect(res.status).toBe(302);
    const query = redirectParams(res);
    expect(query.get('error')).toBe(error);
    expect(query.get('error_description')).toMatch(/\S/);
    expect(query.get('state')).toBe('keep-me');
    expect(query.get('code')).toBeNull();
  });

  it('a public client without a code_challenge', async () => {
    const res = await authorizeRequest(emu.url, {
      response_type: 'code',
      client_id: PUBLIC.id,
      redirect_uri: CALLBACK,
      state: 's',
    });
    expect(redirectParams(res).get('error')).toBe('invalid_request');
  });
});

describe('POST /oauth/token refuses', () => {
  it('a wrong code_verifier', async () => {
    const { challenge } = pkcePair();
    const res = await publicExchange(await codeFor(PUBLIC, challenge), pkcePair().verifier);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a verifier outside RFC 7636 syntax', async () => {
    const { challenge } = pkcePair();
    const res = await publicExchange(await codeFor(PUBLIC, challenge), 'short');
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a code used twice', async () => {
    const code = await codeFor(CONFIDENTIAL);
    expect((await confidentialExchange(code)).status).toBe(200);
    const again = await confidentialExchange(code);
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a code older than 60 s', async () => {
    const fresh = await codeFor(CONFIDENTIAL);
    const stale = await codeFor(CONFIDENTIAL);
    emu.advance(59_000);
    expect((await confidentialExchange(fresh)).status).toBe(200);
    emu.advance(1_000);
    expect(await (await confidentialExchange(stale)).json()).toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('a redirect_uri other than the one authorized', async () => {
    const res = await confidentialExchange(await codeFor(CONFIDENTIAL), {
      redirect_uri: 'http://app.test/',
    });
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it("another client's code", async () => {
    const { verifier, challenge } = pkcePair();
    const code = await codeFor(PUBLIC, challenge);
    const res = await confidentialExchange(code, { code_verifier: verifier });
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a wrong secret with 401 invalid_client', async () => {
    const res = await tokenRequest(
      emu.url,
      {
        grant_type: 'authorization_code',
        code: await codeFor(CONFIDENTIAL),
        redirect_uri: CALLBACK,
      },
      { clientId: CONFIDENTIAL.id, secret: 'wrong' },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('a confidential client that skips Basic authentication', async () => {
    const res = await tokenRequest(emu.url, {
      grant_type: 'authorization_code',
      code: await codeFor(CONFIDENTIAL),
      redirect_uri: CALLBACK,
      client_id: CONFIDENTIAL.id,
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('a missing or unknown grant_type', async () => {
    const missing = await tokenRequest(emu.url, { code: 'x' }, CONF_AUTH);
    expect(await missing.json()).toMatchObject({ error: 'invalid_request' });
    const unknown = await tokenRequest(emu.url, { grant_type: 'password' }, CONF_AUTH);
    expect(await unknown.json()).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('a JSON body', async () => {
    const res = await fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: basicAuth(CONFIDENTIAL.id, 'conf-secret'),
      },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('GET with 405', async () => {
    const res = await fetch(`${emu.url}/oauth/token`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('refresh tokens', () => {
  async function confidentialTokens(): Promise<{ access_token: string; refresh_token: string }> {
    const res = await confidentialExchange(await codeFor(CONFIDENTIAL));
    return (await res.json()) as { access_token: string; refresh_token: string };
  }

  it('rotate: the new pair works, the old refresh token is dead', async () => {
    const first = await confidentialTokens();
    const res = await tokenRequest(
      emu.url,
      { grant_type: 'refresh_token', refresh_token: first.refresh_token },
      CONF_AUTH,
    );
    expect(res.status).toBe(200);
    const second = (await res.json()) as { access_token: string; refresh_token: string };
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await me(second.access_token)).status).toBe(200);
    const replay = await tokenRequest(
      emu.url,
      { grant_type: 'refresh_token', refresh_token: first.refresh_token },
      CONF_AUTH,
    );
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('are refused to public clients', async () => {
    const { refresh_token } = await confidentialTokens();
    const res = await tokenRequest(emu.url, {
      grant_type: 'refresh_token',
      refresh_token,
      client_id: PUBLIC.id,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'unauthorized_client' });
  });

  it('are not issued while the idle token timeout is on', async () => {
    emu.setIdleTimeout({ enableIdleTokenTimeout: true, idleTokenTimeoutSeconds: 900 });
    const body = (await (await confidentialExchange(await codeFor(CONFIDENTIAL))).json()) as Record<
      string,
      unknown
    >;
    expect(body.access_token).toEqual(expect.any(String));
    expect(body).not.toHaveProperty('refresh_token');
    expect(emu.issueToken(AGENT_USER.id, CONFIDENTIAL.id).refresh_token).toBeUndefined();
  });
});

describe('client credentials', () => {
  it('yields a token without user context', async () => {
    const res = await tokenRequest(emu.url, { grant_type: 'client_credentials' }, CONF_AUTH);
    const { access_token } = (await res.json()) as { access_token: string };
    expect((await me(access_token)).status).toBe(400);
    const info = await fetch(`${emu.url}/api/v2/tokens/me`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(await info.json()).toMatchObject({
      OAuthClient: { authorizedGrantType: 'CLIENT-CREDENTIALS' },
    });
  });
});

describe('the HTML login page', () => {
  beforeEach(() => emu.autoApprove(null));

  async function loginPage(): Promise<{ html: string; challenge: string; verifier: string }> {
    const { verifier, challenge } = pkcePair();
    const res = await authorizeRequest(emu.url, {
      response_type: 'code',
      client_id: PUBLIC.id,
      redirect_uri: CALLBACK,
      state: 'page-state',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    return { html: await res.text(), challenge, verifier };
  }

  function hiddenFields(html: string): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      fields[m[1] ?? ''] = m[2] ?? '';
    }
    return fields;
  }

  function approve(form: Record<string, string>): Promise<Response> {
    return fetch(`${emu.url}/oauth/authorize/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
      redirect: 'manual',
    });
  }

  it('renders one button per user and a Deny button', async () => {
    const { html } = await loginPage();
    expect(html).toContain('Sign in as Ada Admin');
    expect(html).toContain('Sign in as Alan Agent');
    expect(html).toContain(`name="user_id" value="${AGENT_USER.id}"`);
    expect(html).toContain('id="deny"');
    expect(html).toContain('BFF (public)');
  });

  it('approve redirects with a code for the chosen user', async () => {
    const { html, verifier } = await loginPage();
    const res = await approve({ ...hiddenFields(html), user_id: AGENT_USER.id });
    expect(res.status).toBe(302);
    const query = redirectParams(res);
    expect(query.get('state')).toBe('page-state');
    const tokens = await publicExchange(query.get('code') ?? '', verifier);
    const { access_token } = (await tokens.json()) as { access_token: string };
    expect(await (await me(access_token)).json()).toMatchObject({ name: 'Alan Agent' });
  });

  it('deny redirects with access_denied', async () => {
    const { html } = await loginPage();
    const res = await approve({ ...hiddenFields(html), deny: '1' });
    const query = redirectParams(res);
    expect(query.get('error')).toBe('access_denied');
    expect(query.get('state')).toBe('page-state');
  });

  it('a tampered redirect_uri or unknown user is refused without a redirect', async () => {
    const { html } = await loginPage();
    const tampered = await approve({
      ...hiddenFields(html),
      redirect_uri: 'https://evil.test/',
      user_id: ADMIN_USER.id,
    });
    expect(tampered.status).toBe(400);
    const nobody = await approve({ ...hiddenFields(html), user_id: 'nobody' });
    expect(nobody.status).toBe(400);
    expect(nobody.headers.get('location')).toBeNull();
  });

  it('escapes attacker-controlled parameters', async () => {
    const res = await authorizeRequest(emu.url, {
      response_type: 'code',
      client_id: CONFIDENTIAL.id,
      redirect_uri: CALLBACK,
      state: '"><script>alert(1)</script>',
    });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#34;&#62;&#60;script&#62;');
  });
});

describe('GET /logout', () => {
  it('redirects to a registered redirect_uri', async () => {
    const res = await fetch(
      `${emu.url}/logout?client_id=${CONFIDENTIAL.id}&redirect_uri=${encodeURIComponent('http://app.test/')}`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://app.test/');
  });

  it('refuses an unregistered redirect_uri', async () => {
    const res = await fetch(
      `${emu.url}/logout?client_id=${CONFIDENTIAL.id}&redirect_uri=https://evil.test/`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('without redirect_uri shows a signed-out page', async () => {
    const res = await fetch(`${emu.url}/logout`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('signed out');
  });
});
