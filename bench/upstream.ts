import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import { mintToken, tokenId, userOfTokenId } from './bench-tokens';
import { serve } from './serve';

/**
 * The lean upstream: a fast stand-in for the Genesys API and login hosts, in its own process,
 * on plain node:http with keep-alive. NOT the emulator (emulator/): no scopes, no
 * permissions, no idle timeout, no schema checks, no request log. Just enough for the gateway's
 * hot paths to do their real work against something that costs little:
 *
 * - `GET|HEAD|DELETE /api/v2/tokens/me[?preserveIdleTTL=true|false]`: a TokenInfo (the shape of
 *   emulator/tokens-api.ts) for a bearer token it minted (bench/bench-tokens.ts), else 401;
 * - `GET /api/v2/users/me`: `{id, name}` of the token's user;
 * - `GET /oauth/authorize`: approves at once, 302 to redirect_uri with `code` and `state`;
 * - `POST /oauth/token`: authorization_code (PKCE S256 checked) and refresh_token grants, Basic
 *   auth of the one client it knows.
 *
 * Tokens are checked by their HMAC with the key given at start, so the seeded sessions' tokens
 * work without being registered. `node upstream.js '<json Options>'`; prints `{"port":N}` once
 * listening. Stops on SIGTERM.
 */

interface Options {
  readonly port: number;
  /** base64 HMAC key of the tokens (bench/bench-tokens.ts). */
  readonly tokenKey: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

interface PendingCode {
  readonly redirectUri: string;
  readonly challenge: string;
  readonly user: string;
  readonly expiresAt: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const key = Buffer.from(options.tokenKey, 'base64');
const expectedBasic = `Basic ${Buffer.from(
  `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
).toString('base64')}`;

const ORG = { id: '3a8b5c1e-4d2f-4e6a-9b7c-1d2e3f4a5b6c', name: 'Bench Org' };
const SCOPE = ['authorization', 'organization', 'user-basic-info', 'users:readonly'];
const CLIENT = {
  id: options.clientId,
  name: 'tokens-bff bench',
  authorizedGrantType: 'CODE',
  scope: SCOPE,
  state: 'active',
  organization: ORG,
};
const TOKEN_LIFETIME_S = 86_400;
const IDLE_S = 900;
const CODE_LIFETIME_MS = 60_000;
/** Bounds the pending codes of logins that never finished (a failed bench run). */
const MAX_PENDING_CODES = 100_000;
const started = new Date();
const pendingCodes = new Map<string, PendingCode>();
const revoked = new Set<string>();
/** Refresh tokens are good for one use, as Genesys rotates them. */
const usedRefreshTokens = new Set<string>();
let issued = 0;

// Fixed parts of a TokenInfo serialised once; only the dates move per request.
const tokenInfoHead = JSON.stringify({
  organization: ORG,
  homeOrganization: ORG,
  authorizedScope: SCOPE,
  OAuthClient: CLIENT,
}).slice(0, -1);

function tokenInfo(now: number): string {
  const created = started.toISOString();
  const expires = new Date(started.getTime() + TOKEN_LIFETIME_S * 1000).toISOString();
  const idles = new Date(now + IDLE_S * 1000).toISOString();
  return `${tokenInfoHead},"dateCreated":"${created}","dateExpires":"${expires}","dateTokenIdles":"${idles}"}`;
}

function send(
  res: http.ServerResponse,
  status: number,
  body: string | undefined,
  headers: Record<string, string> = {},
  headOnly = false,
): void {
  const payload = body === undefined ? undefined : Buffer.from(body);
  res.writeHead(status, {
    ...(payload ? { 'Content-Type': 'application/json' } : {}),
    // A HEAD answer says Content-Length: 0, as the gateway's own do: wrk (like other load
    // generators) does not know which request an answer is for, and would wait for the body a
    // GET's length announces.
    'Content-Length': payload && !headOnly ? payload.length : 0,
    ...headers,
  });
  res.end(headOnly ? undefined : payload);
}

function error(res: http.ServerResponse, status: number, code: string, headOnly = false): void {
  send(res, status, JSON.stringify({ status, code, message: code }), {}, headOnly);
}

/** The id of the request's bearer token when it is one of ours and not revoked. */
function bearerId(req: http.IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ')) return undefined;
  const id = tokenId(key, 'bench', header.slice(7));
  return id === undefined || revoked.has(id) ? undefined : id;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 16_384) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function issueTokens(res: http.ServerResponse, user: string): void {
  issued += 1;
  const id = `${user}-${issued.toString(36)}`;
  send(
    res,
    200,
    JSON.stringify({
      access_token: mintToken(key, 'bench', id),
      refresh_token: mintToken(key, 'benchr', id),
      token_type: 'bearer',
      expires_in: TOKEN_LIFETIME_S,
    }),
    { 'Cache-Control': 'no-store' },
  );
}

function authorize(url: URL, res: http.ServerResponse): void {
  const redirectUri = url.searchParams.get('redirect_uri');
  const state = url.searchParams.get('state');
  const challenge = url.searchParams.get('code_challenge');
  if (
    url.searchParams.get('client_id') !== options.clientId ||
    redirectUri === null ||
    state === null ||
    challenge === null ||
    url.searchParams.get('code_challenge_method') !== 'S256'
  ) {
    error(res, 400, 'invalid_request');
    return;
  }
  if (pendingCodes.size >= MAX_PENDING_CODES) {
    const now = Date.now();
    for (const [code, pending] of pendingCodes) {
      if (pending.expiresAt <= now) pendingCodes.delete(code);
    }
    if (pendingCodes.size >= MAX_PENDING_CODES) pendingCodes.clear();
  }
  issued += 1;
  const code = randomUUID();
  // One user per login: the bench's logins are all different people.
  pendingCodes.set(code, {
    redirectUri,
    challenge,
    user: `l${issued.toString(36)}`,
    expiresAt: Date.now() + CODE_LIFETIME_MS,
  });
  const target = new URL(redirectUri);
  target.searchParams.set('code', code);
  target.searchParams.set('state', state);
  res.writeHead(302, { Location: target.toString(), 'Content-Length': 0 });
  res.end();
}

async function token(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const form = new URLSearchParams(await readBody(req));
  if (req.headers.authorization !== expectedBasic) {
    error(res, 401, 'invalid_client');
    return;
  }
  const grant = form.get('grant_type');
  if (grant === 'authorization_code') {
    const code = form.get('code') ?? '';
    const pending = pendingCodes.get(code);
    pendingCodes.delete(code);
    const verifier = form.get('code_verifier') ?? '';
    if (
      pending === undefined ||
      pending.expiresAt <= Date.now() ||
      pending.redirectUri !== form.get('redirect_uri') ||
      createHash('sha256').update(verifier).digest('base64url') !== pending.challenge
    ) {
      error(res, 400, 'invalid_grant');
      return;
    }
    issueTokens(res, pending.user);
    return;
  }
  if (grant === 'refresh_token') {
    const id = tokenId(key, 'benchr', form.get('refresh_token') ?? '');
    if (id === undefined || usedRefreshTokens.has(id)) {
      error(res, 400, 'invalid_grant');
      return;
    }
    usedRefreshTokens.add(id);
    const dash = id.lastIndexOf('-');
    issueTokens(res, dash > 0 ? id.slice(0, dash) : id);
    return;
  }
  error(res, 400, 'unsupported_grant_type');
}

function tokensMe(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
  const head = req.method === 'HEAD';
  const preserve = url.searchParams.get('preserveIdleTTL');
  if (preserve !== null && preserve !== 'true' && preserve !== 'false') {
    error(res, 400, 'bad.request', head);
    return;
  }
  const id = bearerId(req);
  if (id === undefined) {
    error(res, 401, 'bad.credentials', head);
    return;
  }
  const headers = {
    'inin-correlation-id': String(req.headers['inin-correlation-id'] ?? randomUUID()),
    'inin-ratelimit-allowed': '300',
    'inin-ratelimit-count': '1',
    'inin-ratelimit-reset': '60',
  };
  if (req.method === 'DELETE') {
    revoked.add(id);
    send(res, 204, undefined, headers);
    return;
  }
  send(res, 200, tokenInfo(Date.now()), headers, head);
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const method = req.method ?? 'GET';
  if (url.pathname === '/api/v2/tokens/me' && ['GET', 'HEAD', 'DELETE'].includes(method)) {
    // A bodyless route: whatever a client sent is drained, not read.
    req.resume();
    tokensMe(req, res, url);
  } else if (url.pathname === '/api/v2/users/me' && method === 'GET') {
    req.resume();
    const id = bearerId(req);
    if (id === undefined) error(res, 401, 'bad.credentials');
    else send(res, 200, JSON.stringify(userOfTokenId(id)));
  } else if (url.pathname === '/oauth/authorize' && method === 'GET') {
    req.resume();
    authorize(url, res);
  } else if (url.pathname === '/oauth/token' && method === 'POST') {
    await token(req, res);
  } else {
    req.resume();
    error(res, 404, 'not.found');
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) error(res, 500, 'internal.server.error');
    else res.destroy();
  });
});
// Longer than any client pool's idle time: the upstream never closes a socket a client is
// about to reuse (a race that shows up as sporadic ECONNRESET under load).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
serve(server, options.port);
