import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestContext } from './http-util';
import { firstValues, mediaType, redirect, sendHtml, sendJson } from './http-util';
import { renderErrorPage, renderLoggedOutPage, renderLoginPage } from './login-page';
import type { EmulatorState } from './state';
import type { EmulatorClient, IssuedTokens } from './types';

/** RFC 7636 §4.1: 43–128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** base64url(SHA-256) without padding is always 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

type AuthorizeCheck =
  | { kind: 'page'; title: string; detail: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'ok'; client: EmulatorClient; redirectUri: string; challenge?: string };

function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}

/**
 * RFC 6749 §4.1.2.1: a bad client or redirect URI is shown to the user and never redirected
 * to (an open redirector otherwise); every other error goes back to the client.
 */
function checkAuthorize(state: EmulatorState, params: Record<string, string>): AuthorizeCheck {
  const client = params.client_id ? state.clients.get(params.client_id) : undefined;
  if (!client) {
    return { kind: 'page', title: 'Invalid client', detail: 'Unknown or missing client_id.' };
  }
  const redirectUri = params.redirect_uri;
  if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
    return {
      kind: 'page',
      title: 'Invalid redirect_uri',
      detail: 'The redirect_uri is not registered for this client.',
    };
  }
  const fail = (error: string, description: string): AuthorizeCheck => ({
    kind: 'redirect',
    location: withParams(redirectUri, {
      error,
      error_description: description,
      state: params.state,
    }),
  });
  if (params.response_type !== 'code') {
    return fail('unsupported_response_type', 'response_type must be code');
  }
  const challenge = params.code_challenge;
  const method = params.code_challenge_method;
  if (challenge !== undefined) {
    if (method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
    if (!S256_CHALLENGE.test(challenge)) {
      return fail('invalid_request', 'code_challenge is not a base64url SHA-256 value');
    }
  } else if (method !== undefined) {
    return fail('invalid_request', 'code_challenge_method without code_challenge');
  } else if (client.secret === undefined) {
    // A public client has no secret: PKCE is its only proof at the token endpoint.
    return fail('invalid_request', 'code_challenge is required for this client');
  }
  return { kind: 'ok', client, redirectUri, ...(challenge ? { challenge } : {}) };
}

function answerCheckFailure(
  ctx: RequestContext,
  check: Exclude<AuthorizeCheck, { kind: 'ok' }>,
): void {
  if (check.kind === 'page') sendHtml(ctx, 400, renderErrorPage(check.title, check.detail));
  else redirect(ctx, check.location);
}

function codeRedirect(
  ctx: RequestContext,
  state: EmulatorState,
  check: Extract<AuthorizeCheck, { kind: 'ok' }>,
  userId: string,
  params: Record<string, string>,
): void {
  const code = state.issueCode(check.client, userId, check.redirectUri, check.challenge);
  redirect(ctx, withParams(check.redirectUri, { code, state: params.state }));
}

/** GET /oauth/authorize: the login page, or a direct 302 when autoApprove is set. */
export function handleAuthorize(ctx: RequestContext, state: EmulatorState): void {
  const params = ctx.query;
  const check = checkAuthorize(state, params);
  if (check.kind !== 'ok') return answerCheckFailure(ctx, check);
  if (state.autoApproveUserId !== null) {
    if (!state.users.has(state.autoApproveUserId)) {
      return sendHtml(ctx, 400, renderErrorPage('Unknown user', 'The auto-approve user is gone.'));
    }
    return codeRedirect(ctx, state, check, state.autoApproveUserId, params);
  }
  sendHtml(ctx, 200, renderLoginPage(check.client, [...state.users.values()], params));
}

/** POST /oauth/authorize/approve: the login form; parameters are checked again (hidden fields can be edited). */
export function handleApprove(ctx: RequestContext, state: EmulatorState): void {
  const form = firstValues(new URLSearchParams(ctx.body));
  const check = checkAuthorize(state, form);
  if (check.kind !== 'ok') return answerCheckFailure(ctx, check);
  if (form.deny !== undefined) {
    return redirect(
      ctx,
      withParams(check.redirectUri, {
        error: 'access_denied',
        error_description: 'The user denied the request',
        state: form.state,
      }),
    );
  }
  const userId = form.user_id;
  if (!userId || !state.users.has(userId)) {
    return sendHtml(ctx, 400, renderErrorPage('Unknown user', 'Pick one of the listed users.'));
  }
  codeRedirect(ctx, state, check, userId, form);
}

/** GET /logout: IdP logout; back to redirect_uri only when it is registered for the client. */
export function handleLogout(ctx: RequestContext, state: EmulatorState): void {
  const { client_id: clientId, redirect_uri: redirectUri } = ctx.query;
  if (redirectUri === undefined) return sendHtml(ctx, 200, renderLoggedOutPage());
  const client = clientId ? state.clients.get(clientId) : undefined;
  if (!client || !client.redirectUris.includes(redirectUri)) {
    return sendHtml(
      ctx,
      400,
      renderErrorPage('Invalid redirect_uri', 'Unknown client or unregistered redirect_uri.'),
    );
  }
  redirect(ctx, redirectUri);
}

/** RFC 6749 §5.1/§5.2: token answers are never cached. */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function oauthError(
  ctx: RequestContext,
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): void {
  sendJson(ctx, status, { error, error_description: description }, { ...NO_STORE, ...headers });
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

type ClientAuth = { client: EmulatorClient; confidential: boolean } | { fail: () => void };

/** Confidential clients authenticate with HTTP Basic only; public clients name themselves in the body. */
function authenticateClient(
  ctx: RequestContext,
  state: EmulatorState,
  form: Record<string, string>,
): ClientAuth {
  const header = ctx.req.headers.authorization;
  if (header !== undefined && /^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const id = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const secret = colon >= 0 ? decoded.slice(colon + 1) : '';
    const client = state.clients.get(id);
    const ok =
      client?.secret !== undefined &&
      sameSecret(secret, client.secret) &&
      (form.client_id === undefined || form.client_id === id);
    if (!client || !ok) {
      return {
        fail: () =>
          oauthError(ctx, 401, 'invalid_client', 'Client authentication failed', {
            'WWW-Authenticate': 'Basic realm="oauth"',
          }),
      };
    }
    return { client, confidential: true };
  }
  const client = form.client_id ? state.clients.get(form.client_id) : undefined;
  if (!client || client.secret !== undefined) {
    return { fail: () => oauthError(ctx, 401, 'invalid_client', 'Client authentication failed') };
  }
  return { client, confidential: false };
}

function sendTokens(ctx: RequestContext, tokens: IssuedTokens): void {
  sendJson(ctx, 200, { ...tokens, token_type: 'bearer' }, NO_STORE);
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

function redeemCode(
  ctx: RequestContext,
  state: EmulatorState,
  client: EmulatorClient,
  form: Record<string, string>,
): void {
  const { code, redirect_uri: redirectUri, code_verifier: verifier } = form;
  if (!code) return oauthError(ctx, 400, 'invalid_request', 'code is required');
  if (!redirectUri) return oauthError(ctx, 400, 'invalid_request', 'redirect_uri is required');
  const record = state.takeCode(code);
  if (!record || record.clientId !== client.id) {
    return oauthError(ctx, 400, 'invalid_grant', 'Invalid, expired or already used code');
  }
  if (record.redirectUri !== redirectUri) {
    return oauthError(
      ctx,
      400,
      'invalid_grant',
      'redirect_uri does not match the authorize request',
    );
  }
  if (record.codeChallenge !== undefined) {
    if (verifier === undefined) {
      return oauthError(ctx, 400, 'invalid_request', 'code_verifier is required');
    }
    if (!VERIFIER.test(verifier) || s256(verifier) !== record.codeChallenge) {
      return oauthError(ctx, 400, 'invalid_grant', 'code_verifier does not match code_challenge');
    }
  } else if (verifier !== undefined) {
    // OAuth 2.1 §4.1.3: a verifier without a challenge is a PKCE downgrade attempt.
    return oauthError(ctx, 400, 'invalid_request', 'code_verifier given without code_challenge');
  }
  if (!state.users.has(record.userId)) {
    return oauthError(ctx, 400, 'invalid_grant', 'The user no longer exists');
  }
  sendTokens(ctx, state.issueTokens(client, record.userId, 'CODE'));
}

/** POST /oauth/token: authorization_code, refresh_token and client_credentials grants. */
export function handleToken(ctx: RequestContext, state: EmulatorState): void {
  const type = mediaType(ctx.req);
  if (type !== '' && type !== 'application/x-www-form-urlencoded') {
    return oauthError(
      ctx,
      400,
      'invalid_request',
      'Content-Type must be application/x-www-form-urlencoded',
    );
  }
  const form = firstValues(new URLSearchParams(ctx.body));
  const auth = authenticateClient(ctx, state, form);
  if ('fail' in auth) return auth.fail();
  const { client, confidential } = auth;
  switch (form.grant_type) {
    case undefined:
    case '':
      return oauthError(ctx, 400, 'invalid_request', 'grant_type is required');
    case 'authorization_code':
      return redeemCode(ctx, state, client, form);
    case 'refresh_token': {
      if (!confidential) {
        return oauthError(ctx, 400, 'unauthorized_client', 'Public clients get no refresh token');
      }
      if (!form.refresh_token) {
        return oauthError(ctx, 400, 'invalid_request', 'refresh_token is required');
      }
      const tokens = state.rotateRefreshToken(form.refresh_token, client);
      if (!tokens) return oauthError(ctx, 400, 'invalid_grant', 'Invalid refresh token');
      return sendTokens(ctx, tokens);
    }
    case 'client_credentials':
      if (!confidential) {
        return oauthError(ctx, 400, 'unauthorized_client', 'client_credentials needs a secret');
      }
      return sendTokens(ctx, state.issueTokens(client, null, 'CLIENT-CREDENTIALS'));
    default:
      return oauthError(ctx, 400, 'unsupported_grant_type', `Unsupported grant_type`);
  }
}
