import { sendError } from './error-body';
import type { RequestContext } from './http-util';
import { mediaType, sendEmpty, sendJson } from './http-util';
import { validateIdleTimeout } from './idle-timeout-validation';
import type { AccessTokenRecord, EmulatorState } from './state';
import { DEFAULT_SCOPES } from './state';
import type { EmulatorClient, EmulatorUser } from './types';

/** Scopes that admit each operation (any one suffices), from the spec's security sections. */
const REQUIRED_SCOPES: Record<string, string[]> = {
  headTokensMe: ['user-basic-info'],
  getTokensMe: ['user-basic-info'],
  deleteTokensMe: ['user-basic-info'],
  deleteToken: ['user-basic-info'],
  getTokensTimeout: [
    'authorization',
    'authorization:readonly',
    'organization',
    'organization:readonly',
  ],
  putTokensTimeout: ['authorization'],
  getUsersMe: ['users', 'users:readonly', 'user-basic-info'],
};

/** x-inin-requires-permissions of the spec. */
const REQUIRED_PERMISSION: Record<string, string> = {
  putTokensTimeout: 'directory:organization:admin',
  deleteToken: 'oauth:token:delete',
};

/** Every user sits in the org's home division. */
const HOME_DIVISION_ID = '7d0a9b57-2f4e-4b7e-9d0a-6c1f3f5e2a10';

interface Caller {
  record: AccessTokenRecord;
  client: EmulatorClient;
  user: EmulatorUser | undefined;
}

const BEARER = /^bearer\s+(\S+)\s*$/i;

function authenticate(ctx: RequestContext, state: EmulatorState): Caller | undefined {
  const match = BEARER.exec(ctx.req.headers.authorization ?? '');
  if (!match?.[1]) {
    sendError(
      ctx,
      401,
      'authentication.required',
      'No authentication bearer token specified in authorization header.',
    );
    return undefined;
  }
  const record = state.lookup(match[1]);
  const client = record ? state.clients.get(record.clientId) : undefined;
  if (!record || !client) {
    sendError(ctx, 401, 'bad.credentials', 'Invalid login credentials.');
    return undefined;
  }
  const user = record.userId !== null ? state.users.get(record.userId) : undefined;
  return { record, client, user };
}

function tokenInfo(state: EmulatorState, caller: Caller): Record<string, unknown> {
  const org = { id: state.org.id, name: state.org.name };
  const scope = caller.client.scope ?? DEFAULT_SCOPES;
  const idles = state.dateTokenIdles(caller.record);
  return {
    organization: org,
    homeOrganization: org,
    authorizedScope: scope,
    ...(idles ? { dateTokenIdles: idles } : {}),
    OAuthClient: {
      id: caller.client.id,
      name: caller.client.name,
      authorizedGrantType: caller.record.grant,
      scope,
      state: 'active',
      organization: org,
    },
  };
}

function userBody(state: EmulatorState, user: EmulatorUser): Record<string, unknown> {
  return {
    id: user.id,
    name: user.name,
    division: {
      id: HOME_DIVISION_ID,
      name: 'Home',
      selfUri: `/api/v2/authorization/divisions/${HOME_DIVISION_ID}`,
    },
    chat: { jabberId: `${user.id}@${state.org.id}.orgspan.com` },
    email: user.email,
    primaryContactInfo: [{ address: user.email, mediaType: 'EMAIL', type: 'PRIMARY' }],
    addresses: [],
    state: 'active',
    username: user.username,
    version: 1,
    acdAutoAnswer: false,
    selfUri: `/api/v2/users/${user.id}`,
  };
}

function getUsersMe(ctx: RequestContext, state: EmulatorState, caller: Caller): void {
  if (!caller.user) {
    return sendError(
      ctx,
      400,
      'bad.request',
      'This request requires a user context. Client credentials cannot be used for requests to this resource.',
    );
  }
  const expand = ctx.searchParams.getAll('expand').flatMap((v) => v.split(','));
  const body = userBody(state, caller.user);
  if (expand.includes('token')) body.token = tokenInfo(state, caller);
  if (expand.includes('authorization')) {
    body.authorization = {
      roles: [],
      unusedRoles: [],
      permissions: caller.user.permissions,
      permissionPolicies: [],
    };
  }
  sendJson(ctx, 200, body);
}

function putTokensTimeout(ctx: RequestContext, state: EmulatorState): void {
  if (mediaType(ctx.req) !== 'application/json') return sendError(ctx, 415);
  let parsed: unknown;
  try {
    parsed = JSON.parse(ctx.body);
  } catch {
    return sendError(ctx, 400, 'bad.request', 'The request body is not valid JSON.');
  }
  const checked = validateIdleTimeout(parsed, state.hipaa);
  if ('fail' in checked) {
    const { code, message, details } = checked.fail;
    return sendJson(ctx, 400, {
      message,
      code,
      status: 400,
      messageWithParams: message,
      messageParams: {},
      contextId: ctx.correlationId,
      details,
      errors: [],
    });
  }
  sendJson(ctx, 200, state.updateIdleTimeout(checked.ok));
}

function deleteToken(ctx: RequestContext, state: EmulatorState): void {
  const userId = ctx.params.userId ?? '';
  if (!state.users.has(userId)) return sendError(ctx, 404, 'not.found', 'User not found.');
  state.revokeUser(userId);
  sendEmpty(ctx, 204);
}

/**
 * The API host. Order as in Genesys: authentication (401), idle-timer reset, scope and
 * permission checks (403), then the operation's own validation.
 */
export function handleApi(ctx: RequestContext, state: EmulatorState): void {
  const caller = authenticate(ctx, state);
  if (!caller) return;
  const op = ctx.operation;
  // The one call that reads the token without keeping it alive.
  const preserve = op === 'getTokensMe' && ctx.query.preserveIdleTTL === 'true';
  if (!preserve) state.touch(caller.record);

  const scopes = REQUIRED_SCOPES[op] ?? [];
  const granted = caller.client.scope;
  if (granted && scopes.length > 0 && !scopes.some((s) => granted.includes(s))) {
    return sendError(
      ctx,
      403,
      'app.not.authorized.for.scope',
      `App not authorized to use scope ${scopes[0]}`,
    );
  }
  const permission = REQUIRED_PERMISSION[op];
  if (permission && !caller.user?.permissions.includes(permission)) {
    return sendError(
      ctx,
      403,
      'missing.permissions',
      `Unable to perform the requested action. You are missing the following permission(s): ${permission}`,
    );
  }

  switch (op) {
    case 'headTokensMe':
      return sendEmpty(ctx, 200);
    case 'getTokensMe': {
      const flag = ctx.query.preserveIdleTTL;
      if (flag !== undefined && flag !== 'true' && flag !== 'false') {
        return sendError(
          ctx,
          400,
          'invalid.query.param.value',
          `Value [${flag}] is not valid for parameter [preserveIdleTTL]. Allowable values are: true, false`,
        );
      }
      return sendJson(ctx, 200, tokenInfo(state, caller));
    }
    case 'deleteTokensMe':
      state.revokeAccessToken(caller.record.token, true);
      return sendEmpty(ctx, 200);
    case 'getTokensTimeout':
      return sendJson(ctx, 200, state.idleTimeout);
    case 'putTokensTimeout':
      return putTokensTimeout(ctx, state);
    case 'deleteToken':
      return deleteToken(ctx, state);
    case 'getUsersMe':
      return getUsersMe(ctx, state, caller);
    default:
      return sendError(ctx, 404);
  }
}
