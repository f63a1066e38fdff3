/** One route the emulator serves; `path` uses the Swagger template syntax of tokens-openapi.json. */
export interface Route {
  method: string;
  path: string;
  operation: string;
}

/** The API host: the six Tokens operations (exactly those of the spec) and the user lookup. */
export const API_ROUTES: readonly Route[] = [
  { method: 'HEAD', path: '/api/v2/tokens/me', operation: 'headTokensMe' },
  { method: 'GET', path: '/api/v2/tokens/me', operation: 'getTokensMe' },
  { method: 'DELETE', path: '/api/v2/tokens/me', operation: 'deleteTokensMe' },
  { method: 'GET', path: '/api/v2/tokens/timeout', operation: 'getTokensTimeout' },
  { method: 'PUT', path: '/api/v2/tokens/timeout', operation: 'putTokensTimeout' },
  { method: 'DELETE', path: '/api/v2/tokens/{userId}', operation: 'deleteToken' },
  { method: 'GET', path: '/api/v2/users/me', operation: 'getUsersMe' },
];

/** The login host (one server plays both hosts, as in SDK gateway mode). */
export const LOGIN_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/oauth/authorize', operation: 'authorize' },
  { method: 'POST', path: '/oauth/authorize/approve', operation: 'approve' },
  { method: 'POST', path: '/oauth/token', operation: 'token' },
  { method: 'GET', path: '/logout', operation: 'logout' },
];

export interface RouteMatch {
  /** 'unknown' when no route has this method and path. */
  operation: string;
  params: Record<string, string>;
  /** Methods served on this path; empty for an unknown path. */
  allowed: string[];
  isApi: boolean;
}

const ALL_ROUTES = [...API_ROUTES, ...LOGIN_ROUTES];

function matchTemplate(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? '';
    const g = got[i] ?? '';
    if (w.startsWith('{') && w.endsWith('}')) {
      if (g === '') return undefined;
      try {
        params[w.slice(1, -1)] = decodeURIComponent(g);
      } catch {
        return undefined;
      }
    } else if (w !== g) return undefined;
  }
  return params;
}

/**
 * Literal paths win over templates, as in JAX-RS: DELETE /api/v2/tokens/timeout is a 405 on
 * the timeout resource, not a revocation of user "timeout".
 */
export function matchRoute(method: string, path: string): RouteMatch {
  const isApi = path.startsWith('/api/');
  const literal = ALL_ROUTES.filter((r) => !r.path.includes('{') && r.path === path);
  const candidates =
    literal.length > 0
      ? literal.map((r) => ({ route: r, params: {} }))
      : ALL_ROUTES.flatMap((r) => {
          const params = r.path.includes('{') ? matchTemplate(r.path, path) : undefined;
          return params ? [{ route: r, params }] : [];
        });
  const allowed = candidates.map((c) => c.route.method);
  const hit = candidates.find((c) => c.route.method === method);
  return hit
    ? { operation: hit.route.operation, params: hit.params, allowed, isApi }
    : { operation: 'unknown', params: {}, allowed, isApi };
}
