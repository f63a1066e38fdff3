import type { Config } from '../config/types';
import type { Metrics } from './metrics';
import { AppError, UpstreamTimeoutError, UpstreamUnavailableError } from './errors';

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

/** Calls the gateway itself makes to Genesys (the mapped routes go through the proxy instead). */
export interface GenesysClient {
  exchangeCode(input: { code: string; verifier: string; requestId: string }): Promise<TokenSet>;
  refresh(refreshToken: string, requestId: string): Promise<TokenSet>;
  getMe(accessToken: string, requestId: string): Promise<GenesysUser>;
  /** DELETE /api/v2/tokens/me; resolves with the upstream status (logout ends locally whatever it is). */
  revokeMe(accessToken: string, requestId: string): Promise<number>;
}

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

/** Builds the client on Node's fetch (keep-alive pool), with the per-call timeout and metrics. */
export function createGenesysClient(
  config: Config,
  metrics: Metrics,
  clock: () => number,
): GenesysClient {
  const { apiBaseUrl, loginBaseUrl } = config.genesys;
  const { clientId, clientSecret, redirectUri } = config.oauth;

  async function call(operation: string, url: string, init: RequestInit): Promise<Response> {
    const end = metrics.genesysDuration.startTimer({ operation });
    try {
      const res = await fetch(url, {
        ...init,
        redirect: 'manual',
        signal: AbortSignal.timeout(config.upstreamTimeoutMs),
      });
      end({ status_code: String(res.status) });
      return res;
    } catch (err) {
      const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
      end({ status_code: timedOut ? 'timeout' : 'error' });
      throw timedOut
        ? new UpstreamTimeoutError(undefined, err)
        : new UpstreamUnavailableError(undefined, err);
    }
  }

  async function readJson(res: Response): Promise<Record<string, unknown>> {
    try {
      const body: unknown = await res.json();
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
        return body as Record<string, unknown>;
      }
    } catch (err) {
      throw new UpstreamUnavailableError('Genesys Cloud answered with a malformed body.', err);
    }
    throw new UpstreamUnavailableError('Genesys Cloud answered with an unexpected body.');
  }

  async function tokenRequest(
    operation: string,
    params: Record<string, string>,
    requestId: string,
  ): Promise<TokenSet> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
      'ININ-Correlation-Id': requestId,
    };
    const form = new URLSearchParams(params);
    if (clientSecret !== undefined) {
      // Confidential client: RFC 6749 §2.3.1 Basic auth with form-encoded id and secret.
      const basic = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
      headers.Authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    } else {
      form.set('client_id', clientId);
    }
    const started = clock();
    const res = await call(operation, `${loginBaseUrl}/oauth/token`, {
      method: 'POST',
      headers,
      body: form.toString(),
    });
    const body = await readJson(res);
    if (!res.ok) {
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
    exchangeCode: ({ code, verifier, requestId }) =>
      tokenRequest(
        'oauthToken',
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
        },
        requestId,
      ),

    refresh: (refreshToken, requestId) =>
      tokenRequest(
        'oauthRefresh',
        { grant_type: 'refresh_token', refresh_token: refreshToken },
        requestId,
      ),

    async getMe(accessToken, requestId) {
      const res = await call('getUsersMe', `${apiBaseUrl}/api/v2/users/me`, {
        headers: {
          Authorization: `Bearer ${accessToken}`,
          Accept: 'application/json',
          'ININ-Correlation-Id': requestId,
        },
      });
      const body = await readJson(res);
      if (!res.ok) {
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

    async revokeMe(accessToken, requestId) {
      const res = await call('deleteTokensMe', `${apiBaseUrl}/api/v2/tokens/me`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${accessToken}`, 'ININ-Correlation-Id': requestId },
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    },
  };
}
