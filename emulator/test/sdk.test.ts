import * as platformClientModule from 'purecloud-platform-client-v2';
import type { EmulatorClient, GenesysEmulator } from '../genesys-emulator';
import { ADMIN_USER, AGENT_USER, startEmulator } from '../genesys-emulator';
import { authorizeRequest, redirectParams } from '../flow-helpers';

/**
 * The SDK's index.d.ts exports only ApiClient from the module (TokensApi and UsersApi are
 * global declarations) and types callApi results as bodies, not extended responses; this
 * local view types what the test uses.
 */
interface Extended<T = unknown> {
  status: number;
  headers: Record<string, string>;
  body: T;
  error: unknown;
}
interface SdkApiClient {
  authData: { accessToken?: string; refreshToken?: string };
  config: { getConfUrl(kind: string, regionUrl: string): string };
  setGateway(gateway: { host: string; protocol: string; port: number }): void;
  setAccessToken(token: string): void;
  clearAuthData(): void;
  setReturnExtendedResponses(on: boolean): void;
  loginCodeAuthorizationGrant(
    id: string,
    secret: string,
    code: string,
    redirectUri: string,
  ): Promise<unknown>;
  loginClientCredentialsGrant(id: string, secret: string): Promise<unknown>;
  authorizePKCEGrant(
    id: string,
    verifier: string,
    code: string,
    redirectUri: string,
  ): Promise<unknown>;
  generatePKCECodeVerifier(length: number): string;
  computePKCECodeChallenge(verifier: string): Promise<string>;
}
interface SdkTokensApi {
  headTokensMe(): Promise<Extended>;
  getTokensMe(opts?: { preserveIdleTTL?: boolean }): Promise<Extended<Record<string, unknown>>>;
  deleteTokensMe(): Promise<Extended>;
  getTokensTimeout(): Promise<Extended<Record<string, unknown>>>;
  putTokensTimeout(opts: {
    body: Record<string, unknown>;
  }): Promise<Extended<Record<string, unknown>>>;
  deleteToken(userId: string): Promise<Extended>;
}
interface SdkUsersApi {
  getUsersMe(): Promise<Extended<Record<string, unknown>>>;
}
interface Sdk {
  ApiClient: { instance: SdkApiClient };
  TokensApi: new () => SdkTokensApi;
  UsersApi: new () => SdkUsersApi;
}

const sdk = platformClientModule as unknown as Sdk;
// The SDK's ApiClient is a process-wide singleton: every test resets what it touches.
const client = sdk.ApiClient.instance;

const CALLBACK = 'http://app.test/auth/callback';
const CONFIDENTIAL: EmulatorClient = {
  id: 'sdk-conf',
  secret: 'sdk-secret',
  name: 'SDK confidential',
  redirectUris: [CALLBACK],
};
const PUBLIC: EmulatorClient = { id: 'sdk-pkce', name: 'SDK public', redirectUris: [CALLBACK] };

let emu: GenesysEmulator;
let tokens: SdkTokensApi;
let users: SdkUsersApi;

beforeEach(async () => {
  emu = await startEmulator({ clients: [CONFIDENTIAL, PUBLIC] });
  client.setGateway({ host: '127.0.0.1', protocol: 'http', port: Number(new URL(emu.url).port) });
  client.clearAuthData();
  client.authData.refreshToken = undefined;
  client.setReturnExtendedResponses(true);
  tokens = new sdk.TokensApi();
  users = new sdk.UsersApi();
});

afterEach(async () => {
  await emu.close();
});

function useToken(userId: string): string {
  const token = emu.issueToken(userId, CONFIDENTIAL.id).access_token;
  client.setAccessToken(token);
  return token;
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function rejection(promise: Promise<unknown>): Promise<Extended<Record<string, unknown>>> {
  try {
    await promise;
  } catch (err) {
    return err as Extended<Record<string, unknown>>;
  }
  throw new Error('expected the SDK call to fail');
}

describe('the official SDK in gateway mode', () => {
  it('sends API and login calls to the emulator origin with no path prefix', () => {
    expect(client.config.getConfUrl('api', 'https://api.mypurecloud.com')).toBe(emu.url);
    expect(client.config.getConfUrl('login', 'https://login.mypurecloud.com')).toBe(emu.url);
  });

  it('headTokensMe: 200, and the bearer token reached the emulator', async () => {
    const token = useToken(AGENT_USER.id);
    const res = await tokens.headTokensMe();
    expect(res.status).toBe(200);
    expect(res.headers['inin-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
    const [seen] = emu.requestsFor('headTokensMe');
    expect(seen?.headers.authorization).toBe(`Bearer ${token}`);
  });

  it('getTokensMe({preserveIdleTTL: true}): TokenInfo, and the flag is sent as true', async () => {
    useToken(AGENT_USER.id);
    const res = await tokens.getTokensMe({ preserveIdleTTL: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      OAuthClient: { id: CONFIDENTIAL.id, authorizedGrantType: 'CODE', state: 'active' },
      organization: { id: expect.any(String), name: expect.any(String) },
    });
    expect(emu.requestsFor('getTokensMe')[0]?.query).toEqual({ preserveIdleTTL: 'true' });
  });

  it('getTokensTimeout and putTokensTimeout({body}) round-trip the setting', async () => {
    useToken(ADMIN_USER.id);
    const put = await tokens.putTokensTimeout({
      body: { idleTokenTimeoutSeconds: 1200, enableIdleTokenTimeout: true },
    });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ idleTokenTimeoutSeconds: 1200, enableIdleTokenTimeout: true });
    const get = await tokens.getTokensTimeout();
    expect(get.body).toEqual(put.body);
  });

  it('deleteToken(userId): 204 and the user is signed out everywhere', async () => {
    const agentToken = emu.issueToken(AGENT_USER.id, CONFIDENTIAL.id).access_token;
    useToken(ADMIN_USER.id);
    const res = await tokens.deleteToken(AGENT_USER.id);
    expect(res.status).toBe(204);
    expect(emu.isTokenActive(agentToken)).toBe(false);
  });

  it('deleteTokensMe: 200, then the token is refused with 401', async () => {
    useToken(AGENT_USER.id);
    expect((await tokens.deleteTokensMe()).status).toBe(200);
    const err = await rejection(tokens.headTokensMe());
    expect(err.status).toBe(401);
  });

  it('getUsersMe: the signed-in user', async () => {
    useToken(ADMIN_USER.id);
    const res = await users.getUsersMe();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: ADMIN_USER.id, name: ADMIN_USER.name });
  });

  it('a 403 arrives as the SDK error object carrying the ErrorBody', async () => {
    useToken(AGENT_USER.id);
    const err = await rejection(
      tokens.putTokensTimeout({ body: { idleTokenTimeoutSeconds: 600 } }),
    );
    expect(err.status).toBe(403);
    expect(err.body).toMatchObject({ code: 'missing.permissions', status: 403 });
    expect(err.body.contextId).toBe(err.headers['inin-correlation-id']);
    expect(err.error).toBeInstanceOf(Error);
  });

  it('without extended responses, errors reject with the bare ErrorBody', async () => {
    client.setReturnExtendedResponses(false);
    useToken(AGENT_USER.id);
    const err = await rejection(tokens.deleteToken(ADMIN_USER.id));
    expect(err).toMatchObject({ code: 'missing.permissions', status: 403 });
  });
});

describe('the SDK login helpers against the emulator', () => {
  async function code(clientId: string, challenge?: string): Promise<string> {
    emu.autoApprove(ADMIN_USER.id);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
    };
    if (challenge)
      Object.assign(params, { code_challenge: challenge, code_challenge_method: 'S256' });
    return redirectParams(await authorizeRequest(emu.url, params)).get('code') ?? '';
  }

  it('loginCodeAuthorizationGrant, then the SDK refreshes on 401 (but still rejects that call)', async () => {
    await client.loginCodeAuthorizationGrant(
      CONFIDENTIAL.id,
      'sdk-secret',
      await code(CONFIDENTIAL.id),
      CALLBACK,
    );
    const first = client.authData.accessToken ?? '';
    const firstRefresh = client.authData.refreshToken;
    expect(firstRefresh).toEqual(expect.any(String));
    emu.advance(86_400_000);
    // SDK 262 quirk: on 401 it starts a refresh but falls through to reject(error) with the raw
    // AxiosError (no `return` after _handleExpiredAccessToken), and retries in the background.
    const err = (await rejection(users.getUsersMe())) as unknown as {
      response?: { status: number };
    };
    expect(err.response?.status).toBe(401);
    await waitFor(() => emu.requestsFor('getUsersMe').length === 2);
    expect(client.authData.accessToken).not.toBe(first);
    expect(client.authData.refreshToken).not.toBe(firstRefresh);
    const grants = emu
      .requestsFor('token')
      .map((r) => new URLSearchParams(r.body).get('grant_type'));
    expect(grants).toEqual(['authorization_code', 'refresh_token']);
    expect((await users.getUsersMe()).status).toBe(200);
  });

  it('authorizePKCEGrant with the SDK-made verifier and challenge', async () => {
    const verifier = client.generatePKCECodeVerifier(128);
    const challenge = await client.computePKCECodeChallenge(verifier);
    await client.authorizePKCEGrant(
      PUBLIC.id,
      verifier,
      await code(PUBLIC.id, challenge),
      CALLBACK,
    );
    const res = await users.getUsersMe();
    expect(res.body).toMatchObject({ id: ADMIN_USER.id });
  });

  it('loginClientCredentialsGrant', async () => {
    await client.loginClientCredentialsGrant(CONFIDENTIAL.id, 'sdk-secret');
    const res = await tokens.getTokensMe();
    expect(res.body).toMatchObject({ OAuthClient: { authorizedGrantType: 'CLIENT-CREDENTIALS' } });
  });
});
