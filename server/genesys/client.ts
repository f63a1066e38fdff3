import type { Config } from '../../config/types';
import { genesysTimer, type Metrics } from '../core/metrics';
import { AppError, UpstreamUnavailableError } from '../core/errors';
import { correlationHeaders, type Caller } from './correlation';
import type { GenesysHttp } from './http';

/** The token set Genesys issued for a session. Lives only sealed in the store, never in the browser. */
export interface TokenSet {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  /** ms epoch */
  readonly expiresAt: number;
}

/** The Genesys user behind a session. */
export interface GenesysUser {
  readonly id: string;
  readonly name: string;
}

/**
 * Calls the gateway itself makes to Genesys (the mapped routes go through the proxy instead),
 * each for a `caller`: the browser request whose ids it carries (correlation.ts).
 */
export interface GenesysClient {
  exchangeCode(input: { code: string; verifier: string; caller: Caller }): Promise<TokenSet>;
  refresh(refreshToken: string, caller: Caller): Promise<TokenSet>;
  getMe(accessToken: string, caller: Caller): Promise<GenesysUser>;
  /**
   * DELETE /api/v2/tokens/me; resolves with the upstream status (logout ends locally whatever it
   * is). Bounded by REVOKE_TIMEOUT_MS, not the full upstream timeout.
   */
  revokeMe(accessToken: string, caller: Caller): Promise<number>;
}

/**
 * How long a revoke may take. The session has already ended locally when the gateway revokes its
 * token (logout, a replaced login): a user logging out should not wait the full
 * UPSTREAM_TIMEOUT_MS on a Genesys that hangs, for an answer that changes nothing they see.
 */
export const REVOKE_TIMEOUT_MS = 2000;

/** An OAuth error answer from /oauth/token (`invalid_grant`, …); the login fails with a 400. */
export class OAuthError extends AppError {
  constructor(status: number, error: string, description: string | undefined) {
    super(
      status >= 500 ? 502 : 400,
      'oauth-error',
      `Genesys refused the login: ${error}${description ? ` (${description})` : ''}.`,
      { extensions: { error } },
    );
  }
}

// RFC 6749 error codes are [\x20-\x7E] minus " and \; anything else from upstream is not echoed.
function safeText(value: unknown, max = 200): string | undefined {
  return typeof value === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(value)
    ? value.slice(0, max)
    : undefined;
}

/**
 * Builds the client over the gateway's pools to Genesys (server/genesys/http.ts: node:http, not
 * fetch; the proxy shares the API pool), with the `genesys_request_duration_seconds` metric.
 */
export function createGenesysClient(
  config: Config,
  pools: GenesysHttp,
  metrics: Metrics,
  clock: () => number,
): GenesysClient {
  const { apiBaseUrl, loginBaseUrl } = config.genesys;
  const { clientId, clientSecret, redirectUri } = config.oauth;
  const { login, api } = pools;
  const loginPath = new URL(loginBaseUrl).pathname.replace(/\/$/, '');
  const apiPath = new URL(apiBaseUrl).pathname.replace(/\/$/, '');
  // Confidential client: RFC 6749 §2.3.1 Basic auth with form-encoded id and secret.
  const basicAuth =
    clientSecret === undefined
      ? undefined
      : `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;

  const timed = genesysTimer(metrics);

  async function tokenRequest(
    operation: string,
    params: Record<string, string>,
    caller: Caller,
  ): Promise<TokenSet> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
      ...correlationHeaders(caller),
    };
    const form = new URLSearchParams(params);
    if (basicAuth !== undefined) headers.Authorization = basicAuth;
    else form.set('client_id', clientId);
    const started = clock();
    const res = await login.requestJson({
      method: 'POST',
      path: `${loginPath}/oauth/token`,
      headers,
      body: form.toString(),
      observe: timed(operation),
    });
    const { body } = res;
    if (res.status < 200 || res.status >= 300) {
      throw new OAuthError(
        res.status,
        safeText(body.error) ?? 'unknown_error',
        safeText(body.error_description),
      );
    }
    const { access_token: accessToken, refresh_token: refreshToken, expires_in: expiresIn } = body;
    if (typeof accessToken !== 'string' || accessToken.length === 0) {
      throw new UpstreamUnavailableError('Genesys Cloud issued no access token.');
    }
    const lifetime = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : 0;
    return {
      accessToken,
      refreshToken:
        typeof refreshToken === 'string' && refreshToken.length > 0 ? refreshToken : undefined,
      // Counted from when we asked, so clock skew and latency only ever shorten the lifetime.
      expiresAt: started + lifetime * 1000,
    };
  }

  return {
    exchangeCode: ({ code, verifier, caller }) =>
      tokenRequest(
        'oauthToken',
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
        },
        caller,
      ),

    refresh: (refreshToken, caller) =>
      tokenRequest(
        'oauthRefresh',
        { grant_type: 'refresh_token', refresh_token: refreshToken },
        caller,
      ),

    async getMe(accessToken, caller) {
      const res = await api.requestJson({
        method: 'GET',
        path: `${apiPath}/api/v2/users/me`,
        headers: {
          Authorization: `Bearer ${accessToken}`,
          Accept: 'application/json',
          ...correlationHeaders(caller),
        },
        observe: timed('getUsersMe'),
      });
      const { body } = res;
      if (res.status < 200 || res.status >= 300) {
        throw new AppError(
          502,
          'login-user-lookup-failed',
          `Genesys Cloud refused the user lookup (${res.status}).`,
        );
      }
      if (typeof body.id !== 'string' || typeof body.name !== 'string') {
        throw new UpstreamUnavailableError('Genesys Cloud returned a user without id or name.');
      }
      return { id: body.id, name: body.name };
    },

    async revokeMe(accessToken, caller) {
      // The body is read and dropped (its socket goes back to the pool); only the status counts.
      const res = await api.request({
        method: 'DELETE',
        path: `${apiPath}/api/v2/tokens/me`,
        headers: { Authorization: `Bearer ${accessToken}`, ...correlationHeaders(caller) },
        timeoutMs: REVOKE_TIMEOUT_MS,
        observe: timed('deleteTokensMe'),
      });
      return res.status;
    },
  };
}
