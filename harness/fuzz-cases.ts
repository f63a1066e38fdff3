import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import { signedCookieValue } from '../bench/seed-sessions';
import { latin1Of, serialize, type Header } from './raw-http';
import { Rng } from './rng';
import {
  embeddedBody,
  frameCookie,
  popupQuery,
  returnToValue,
  type EmbeddedFuzz,
} from './embedded-cases';

/**
 * The random requests of `npm run fuzz`. Request n of a run is drawn from `Rng.for(seed, n)`
 * alone: the same seed gives the same requests in the same order (only the session cookie
 * values differ, they come from the run's own logins).
 */

export type SessionKind = 'agent' | 'admin';

/** A live session of the run's pool: its `name=value` pair (`bff.sid=…`, embedded `__Host-Http-session=…`). */
export interface SessionRef {
  readonly kind: SessionKind;
  readonly slot: number;
  readonly cookie: string;
}

export interface FuzzContext {
  readonly seed: number;
  readonly port: number;
  readonly origin: string;
  readonly sessionSecret: string;
  readonly adminUserId: string;
  readonly agentUserId: string;
  /** The session cookie's name, as the pool's logins were given it. */
  readonly cookieName: string;
  /** Embedded runs only (EMBED_ORIGINS): what the popup and handoff routes are attacked with. */
  readonly embedded?: EmbeddedFuzz;
  /** A live session of that kind, if the pool has one. */
  session(kind: SessionKind, rng: Rng): SessionRef | undefined;
}

export interface FuzzRequest {
  readonly n: number;
  /** What was drawn, for the report: `GET /session +gzip-garbage`. */
  readonly label: string;
  readonly bytes: Buffer;
  /** Frames the answer (HEAD has no body). */
  readonly method: string;
  /** The X-Request-Id sent, when it is one the gateway adopts (it then names the log lines). */
  readonly requestId: string | undefined;
  /** Valid HTTP for node's parser with a known method: it must get an answer. */
  readonly wellFormed: boolean;
  /** Needs a connection of its own, closed after the answer (parser errors close it anyway). */
  readonly fresh: boolean;
  /** An event stream may answer: take its head and hang up. */
  readonly stream: boolean;
  readonly session: SessionRef | undefined;
  /** With this session and valid anti-forgery: it ends the session when it succeeds. */
  readonly endsSession: boolean;
  /** Revokes every token of that user when it succeeds. */
  readonly revokesUser: SessionKind | undefined;
  /**
   * Embedded: a `POST /auth/handoff` the app itself answers (exact route, valid HTTP, nothing
   * node refuses first), whose code is never a live one: its answer must be 400, 403, 413 or 415.
   */
  readonly handoff: boolean;
}

interface Route {
  readonly path: string;
  readonly methods: readonly string[];
  readonly weight: number;
  readonly audience: 'session' | 'admin' | 'auth' | 'ops' | 'other';
}

const ROUTES: readonly Route[] = [
  { path: '/session', methods: ['GET', 'HEAD'], weight: 20, audience: 'session' },
  // Fewer: a logout with a live session costs a login to replace it.
  { path: '/session', methods: ['DELETE'], weight: 4, audience: 'session' },
  { path: '/auth/login', methods: ['GET'], weight: 6, audience: 'auth' },
  { path: '/auth/callback', methods: ['GET'], weight: 5, audience: 'auth' },
  { path: '/auth/logout', methods: ['POST'], weight: 2, audience: 'auth' },
  { path: '/admin/tokens/timeout', methods: ['GET', 'PUT'], weight: 14, audience: 'admin' },
  { path: '/admin/users/{id}/tokens', methods: ['DELETE'], weight: 10, audience: 'admin' },
  { path: '/healthz', methods: ['GET'], weight: 2, audience: 'ops' },
  { path: '/readyz', methods: ['GET'], weight: 2, audience: 'ops' },
  { path: '/metrics', methods: ['GET'], weight: 1, audience: 'ops' },
  { path: '/session/user', methods: ['GET'], weight: 2, audience: 'session' },
  { path: '/session/events', methods: ['GET'], weight: 1, audience: 'session' },
  { path: '/session/all', methods: ['GET'], weight: 1, audience: 'session' },
  { path: '/session/others', methods: ['DELETE'], weight: 1, audience: 'session' },
  { path: '/auth/popup', methods: ['POST'], weight: 1, audience: 'auth' },
  { path: '/auth/handoff', methods: ['POST'], weight: 1, audience: 'auth' },
  { path: '/', methods: ['GET'], weight: 1, audience: 'other' },
  { path: '/api/v2/tokens/me', methods: ['GET'], weight: 1, audience: 'other' },
];

const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'];
/** Methods node's parser knows (llhttp) but the gateway serves on no route. */
const KNOWN_ODD_METHODS = ['PROPFIND', 'M-SEARCH', 'PURGE', 'MKCOL', 'LOCK', 'SEARCH', 'QUERY'];
/** Methods node's parser refuses (400) or treats apart (CONNECT). */
const JUNK_METHODS = [
  'get',
  'Get',
  'FOO',
  'BREW',
  'CONNECT',
  'GET\x00',
  'G(T',
  'X'.repeat(64),
  'DELETE\t',
];

const BROKEN_ESCAPES = [
  '%ZZ',
  '%',
  '%E0%A4%A',
  '%C0%AF',
  '%00',
  '%FF',
  '%u0041',
  '%%',
  '%2',
  '%G1',
  '%E2%82',
  '%ED%A0%80',
  '%F4%90%80%80',
];
const UNICODE = ['é', 'ü', '𝕊', '\u202e', '\u00a0', 'ｓｅｓｓｉｏｎ', '😀', 'İ', 'ß'];

/** Path variants of a route's path: near misses, encodings, dot segments, unicode, length. */
function mutatePath(
  rng: Rng,
  path: string,
  port: number,
): { path: string; tag: string; valid: boolean } {
  const at = (): number => rng.range(1, Math.max(1, path.length));
  const insert = (s: string): string => {
    const i = at();
    return path.slice(0, i) + s + path.slice(i);
  };
  const kind = rng.int(22);
  switch (kind) {
    case 0:
      return { path: path.replace(/[a-z]/, (c) => c.toUpperCase()), tag: 'case', valid: true };
    case 1:
      return { path: path.toUpperCase(), tag: 'upper', valid: true };
    case 2:
      return { path: `${path}/`, tag: 'trailing-slash', valid: true };
    case 3:
      return { path: `/${path}`, tag: 'double-slash', valid: true };
    case 4:
      return { path: path.replace('/', '/./'), tag: 'dot', valid: true };
    case 5:
      return { path: `/x/..${path}`, tag: 'dot-dot', valid: true };
    case 6:
      return { path: `${path}/..`, tag: 'trailing-dot-dot', valid: true };
    case 7: {
      const i = rng.range(1, path.length - 1);
      const c = path.charCodeAt(i);
      const encoded = `%${c.toString(16).padStart(2, '0')}`;
      return {
        path: path.slice(0, i) + encoded + path.slice(i + 1),
        tag: 'pct-encoded',
        valid: true,
      };
    }
    case 8:
      return {
        path: path.replace(/\/(?=[^/]*$)/, rng.pick(['%2F', '%2f', '%252F', '%5C'])),
        tag: 'encoded-slash',
        valid: true,
      };
    case 9:
    case 10:
    case 11:
      return { path: insert(rng.pick(BROKEN_ESCAPES)), tag: 'broken-escape', valid: true };
    case 12:
      return { path: `${path}${rng.pick(BROKEN_ESCAPES)}`, tag: 'broken-escape-end', valid: true };
    case 13:
      return { path: latin1Of(insert(rng.pick(UNICODE))), tag: 'raw-unicode', valid: false };
    case 14:
      return {
        path: insert(encodeURIComponent(rng.pick(UNICODE))),
        tag: 'pct-unicode',
        valid: true,
      };
    case 15: {
      const size = rng.pick([1024, 8000, 15_000]);
      return { path: `${path}/${'a'.repeat(size)}`, tag: `long-${size}`, valid: true };
    }
    case 16:
      return {
        path: `${path}/${'b'.repeat(rng.pick([17_000, 70_000]))}`,
        tag: 'too-long',
        valid: false,
      };
    case 17:
      return {
        path: `${path};jsessionid=${rng.string(8, 'abcdef0123')}`,
        tag: 'semicolon',
        valid: true,
      };
    case 18:
      return {
        path: rng.pick([`/\\${path.slice(1)}`, `${path}\\`]),
        tag: 'backslash',
        valid: true,
      };
    case 19:
      return {
        path: rng.pick([
          `http://127.0.0.1:${port}${path}`,
          `http://evil.example${path}`,
          `HTTPS://127.0.0.1${path}`,
        ]),
        tag: 'absolute-form',
        valid: true,
      };
    case 20:
      return {
        path: rng.pick(['*', '', 'session', '?', '#x', '/%', '//', '/..', '/.', 'example.com:443']),
        tag: 'odd-target',
        valid: false,
      };
    default:
      return {
        path: insert(rng.pick(['\x00', '\x7f', '\t', '\x01', '"', '<', '`', '{'])),
        tag: 'control-char',
        valid: false,
      };
  }
}

/** The :id of the revoke route: mostly other users, rarely a real user of the run. */
function userIdFor(
  rng: Rng,
  ctx: FuzzContext,
): { id: string; revokes: SessionKind | undefined; tag: string } {
  const roll = rng.int(100);
  if (roll === 0) return { id: ctx.agentUserId, revokes: 'agent', tag: 'revoke-agent' };
  if (roll === 1) return { id: ctx.adminUserId, revokes: 'admin', tag: 'revoke-admin' };
  if (roll < 55) return { id: uuid(rng), revokes: undefined, tag: 'uuid' };
  if (roll < 60) return { id: uuid(rng).toUpperCase(), revokes: undefined, tag: 'uuid-upper' };
  const odd = rng.pick([
    'me',
    '..',
    '%2e%2e',
    '',
    'x'.repeat(1000),
    '%ZZ',
    '%E0%A4%A',
    '%',
    latin1Of('ü'),
    '%3Cscript%3E',
    '..%2F..%2Ftokens%2Ftimeout',
    `${uuid(rng)}%00`,
    `${uuid(rng)}/x`,
    ' ',
    '%20',
    'null',
    '-1',
    `{${uuid(rng)}}`,
    uuid(rng).replace(/-/g, ''),
  ]);
  return { id: odd, revokes: undefined, tag: 'odd-id' };
}

function uuid(rng: Rng): string {
  const hex = rng.string(32, '0123456789abcdef');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** Query strings of a route: the flags' edge cases (repeated, array, nested) and junk. */
function queryFor(rng: Rng, route: Route, ctx: FuzzContext): { query: string; tag: string } {
  if (route.path === '/session' || route.path === '/session/user') {
    if (rng.chance(0.5)) return { query: '', tag: '' };
    if (rng.chance(0.5))
      return { query: `?preserveIdleTTL=${rng.pick(['true', 'false'])}`, tag: 'flag' };
    return {
      query: `?${rng.pick([
        'preserveIdleTTL=TRUE',
        'preserveIdleTTL=1',
        'preserveIdleTTL=',
        'preserveIdleTTL',
        'preserveIdleTTL=true&preserveIdleTTL=false',
        'preserveIdleTTL=true&preserveIdleTTL=true',
        'preserveIdleTTL[]=true',
        'preserveIdleTTL[a]=true',
        'preserveIdleTTL[0]=true&preserveIdleTTL[1]=false',
        'preserveIdleTTL=%ZZ',
        'preserveIdleTTL=tr%00ue',
        '%ZZ=1',
        'a[b][c][d][e][f][g][h]=1',
        'preserveIdleTTL=true;x',
        '__proto__[x]=1',
        'constructor[prototype][x]=1',
        'preserveIdleTTL[__proto__]=true',
        Array.from({ length: 1500 }, (_, i) => `p${i}=1`).join('&'),
        'preserveIdleTTL=%E0%A4%A',
        '&&&=&=',
      ])}`,
      tag: 'odd-flag',
    };
  }
  if (route.path === '/auth/login') {
    if (ctx.embedded !== undefined && rng.chance(0.5)) return popupQuery(rng, ctx.embedded);
    const returnTo = returnToValue(rng);
    const shape = rng.int(10);
    if (shape === 0) return { query: '', tag: '' };
    if (shape === 1) return { query: `?returnTo=/a&returnTo=/b`, tag: 'returnTo-repeated' };
    if (shape === 2) return { query: `?returnTo[]=/a`, tag: 'returnTo-array' };
    return {
      query: `?returnTo=${returnTo.startsWith('/') && !returnTo.includes('%') ? encodeURIComponent(returnTo) : returnTo}`,
      tag: 'returnTo',
    };
  }
  if (route.path === '/auth/callback') {
    const token = (): string =>
      rng.string(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
    return {
      query: rng.pick([
        '',
        `?code=${token()}&state=${token()}`,
        `?code=${token()}`,
        `?state=${'s'.repeat(300)}`,
        `?error=access_denied&state=${token()}`,
        `?error=${encodeURIComponent('<b>x</b>')}&state=${token()}`,
        `?code=a&code=b&state=${token()}`,
        `?state[]=x&code=y`,
        `?state=%ZZ&code=%ZZ`,
        `?state=&code=`,
      ]),
      tag: 'callback',
    };
  }
  if (rng.chance(0.1))
    return { query: rng.pick(['?', '?a=1', '?%ZZ', '?x[y]=1', '?a=1&a=2']), tag: 'junk-query' };
  return { query: '', tag: '' };
}

/** A session cookie as an attacker makes it: forged, tampered, unsigned, bloated. */
function forgedCookie(
  rng: Rng,
  ctx: FuzzContext,
  real: SessionRef | undefined,
): { cookie: string; tag: string } {
  const sid = rng.string(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
  const name = ctx.cookieName;
  const kind = rng.int(12);
  const value = real?.cookie.slice(name.length + 1);
  switch (kind) {
    case 0:
      // Signed with the real secret, for a session that does not exist.
      return {
        cookie: `${name}=${signedCookieValue(sid, ctx.sessionSecret)}`,
        tag: 'unknown-sid',
      };
    case 1:
      return {
        cookie: `${name}=${signedCookieValue(sid, 'not-the-secret-of-this-gateway-0000')}`,
        tag: 'wrong-secret',
      };
    case 2: {
      if (value === undefined) return { cookie: `${name}=s%3A${sid}`, tag: 'unsigned' };
      const i = rng.range(4, value.length - 1);
      const flipped = value[i] === 'A' ? 'B' : 'A';
      return {
        cookie: `${name}=${value.slice(0, i)}${flipped}${value.slice(i + 1)}`,
        tag: 'tampered',
      };
    }
    case 3:
      return { cookie: `${name}=s%3A${sid}`, tag: 'unsigned' };
    case 4:
      return { cookie: `${name}=${sid}`, tag: 'no-prefix' };
    case 5:
      return { cookie: `${name}=j%3A%7B%7D`, tag: 'json-cookie' };
    case 6:
      return { cookie: `${name}=%ZZ%E0%A4%A`, tag: 'bad-escape' };
    case 7:
      return { cookie: `${name}=${'x'.repeat(rng.pick([4096, 12_000]))}`, tag: 'huge' };
    case 8:
      return {
        cookie: `${name}=${signedCookieValue(sid, ctx.sessionSecret)}; ${real?.cookie ?? `${name}=x`}`,
        tag: 'forged-then-real',
      };
    case 9: {
      const digest = rng.string(16, 'abcdefghijklmnop0123456789-_');
      return {
        cookie: `bff-login-${digest}=${rng.string(200, 'abcdefXYZ0123_-')}; bff-bind-${digest}=${rng.pick(['zz.' + rng.string(22, 'abc'), '%ZZ', ''])}`,
        tag: 'forged-login-cookies',
      };
    }
    case 10:
      return {
        cookie: Array.from(
          { length: rng.pick([10, 80]) },
          (_, i) => `bff-bind-${i.toString(36)}=${i.toString(36)}.${rng.string(22, 'abcdefgh')}`,
        ).join('; '),
        tag: 'many-bindings',
      };
    default:
      return { cookie: `${name}=; ${name}=s%3A; =; ;;; a`, tag: 'odd-syntax' };
  }
}

/** PUT /admin/tokens/timeout bodies: valid ones, each rule broken, and bodies that are not JSON. */
function timeoutBody(rng: Rng): { body: Buffer; type: string | undefined; tag: string } {
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
  const roll = rng.int(30);
  if (roll < 6) {
    return {
      body: json({
        idleTokenTimeoutSeconds: rng.range(300, 28_800),
        enableIdleTokenTimeout: false,
      }),
      type: 'application/json',
      tag: 'valid',
    };
  }
  const type = 'application/json';
  switch (roll) {
    case 6:
      return {
        body: json({
          idleTokenTimeoutSeconds: rng.pick([299, 28_801, 0, -1, 300.5, 2 ** 53, 1e21]),
        }),
        type,
        tag: 'range',
      };
    case 7:
      return { body: json({ idleTokenTimeoutSeconds: '600' }), type, tag: 'string-number' };
    case 8:
      return {
        body: Buffer.from(rng.pick(['null', 'true', '[]', '{}', '"x"', '0', '1e309', '-0'])),
        type,
        tag: 'not-object',
      };
    case 9:
      return {
        body: json({ idleTokenTimeoutSeconds: 600, unknown: 1 }),
        type,
        tag: 'unknown-field',
      };
    case 10:
      return {
        body: json({ inactivityTimeoutUnit: rng.pick(['Days', '', 'minutes', null]) }),
        type,
        tag: 'enum',
      };
    case 11:
      return {
        body: json({
          inactivityTimeoutGroupsEnabled: true,
          inactivityTimeoutGroupBundles: Array.from({ length: rng.pick([1, 3, 200]) }, (_, i) => ({
            priority: rng.pick([i, -1, 'x', null]),
            timeoutSeconds: rng.pick([600, 1, 'y']),
            groups: rng.pick([[uuid(rng)], [], 'g', [1]]),
          })),
        }),
        type,
        tag: 'bundles',
      };
    case 12:
      return {
        body: Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`),
        type,
        tag: 'deep-nesting',
      };
    case 13:
      return {
        body: Buffer.from(
          '{"__proto__":{"idleTokenTimeoutSeconds":600},"constructor":{"prototype":{"x":1}}}',
        ),
        type,
        tag: 'proto',
      };
    case 14:
      return {
        body: Buffer.from('{"idleTokenTimeoutSeconds":600,"idleTokenTimeoutSeconds":"x"}'),
        type,
        tag: 'duplicate-key',
      };
    case 15:
      return {
        body: Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          json({ idleTokenTimeoutSeconds: 600 }),
        ]),
        type,
        tag: 'bom',
      };
    case 16:
      return {
        body: Buffer.from('{"idleTokenTimeoutSeconds":600,"x":"\\ud800"}'),
        type,
        tag: 'lone-surrogate',
      };
    case 17:
      return {
        body: Buffer.from(
          rng.pick(['{', '{"a":}', "{'a':1}", 'NaN', '', '{"a":1}}', '\x00', '{"a":1,}']),
        ),
        type,
        tag: 'malformed',
      };
    case 18:
      return { body: Buffer.from(`${' '.repeat(17_000)}{}`), type, tag: 'over-limit' };
    case 19:
      return { body: Buffer.alloc(rng.pick([100_000, 1_000_000]), 0x20), type, tag: 'huge' };
    case 20:
      return {
        body: Buffer.from(JSON.stringify({ idleTokenTimeoutSeconds: 600 }), 'utf16le'),
        type: 'application/json; charset=utf-16le',
        tag: 'utf16',
      };
    case 21:
      return {
        body: json({ idleTokenTimeoutSeconds: 600 }),
        type: rng.pick([
          'application/json; charset=koi8-r',
          'application/json; charset=bogus',
          'application/json; charset=',
        ]),
        tag: 'charset',
      };
    case 22:
      return {
        body: json({ idleTokenTimeoutSeconds: 600 }),
        type: rng.pick([
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          ';;;',
          'application/json, text/plain',
          'application/jsonx',
          'APPLICATION/JSON',
        ]),
        tag: 'content-type',
      };
    case 23:
      return {
        body: json({ idleTokenTimeoutSeconds: 600 }),
        type: undefined,
        tag: 'no-content-type',
      };
    case 24:
      return { body: rng.bytes(rng.range(1, 400)), type, tag: 'random-bytes' };
    default:
      return {
        body: json({
          idleTokenTimeoutSeconds: rng.range(300, 28_800),
          enableIdleTokenTimeout: false,
          inactivityTimeoutUnit: rng.pick(['Minutes', 'Hours']),
        }),
        type,
        tag: 'valid-unit',
      };
  }
}

/** A body encoded as `Content-Encoding` says, or garbage under that label. */
function encode(rng: Rng, body: Buffer): { body: Buffer; encoding: string; tag: string } {
  const garbage = rng.chance(0.5);
  const kind = rng.pick([
    'gzip',
    'deflate',
    'br',
    'identity',
    'gzip, deflate',
    'x-gzip',
    'compress',
    'zstd',
    'GZIP',
    'gzip, br, deflate',
  ]);
  if (garbage) {
    const junk = rng.pick([
      rng.bytes(rng.range(1, 64)),
      Buffer.from('not compressed'),
      Buffer.from([0x1f, 0x8b, 0x08, 0x00]),
      body,
    ]);
    return { body: junk, encoding: kind, tag: `${kind}-garbage` };
  }
  const one = (name: string, data: Buffer): Buffer => {
    if (name === 'gzip' || name === 'x-gzip' || name === 'GZIP') return zlib.gzipSync(data);
    if (name === 'deflate') return zlib.deflateSync(data);
    if (name === 'br') return zlib.brotliCompressSync(data);
    return data;
  };
  let out = body;
  for (const name of kind.split(',').map((s) => s.trim())) out = one(name, out);
  return { body: out, encoding: kind, tag: `${kind}-valid` };
}

/** Embedded, the popup login's routes weigh as much as the busiest: they are what is new. */
const EMBEDDED_ROUTES: readonly Route[] = ROUTES.map((r) =>
  r.path === '/auth/popup' || r.path === '/auth/handoff' ? { ...r, weight: 12 } : r,
);

function pickRoute(rng: Rng, embedded: boolean): Route {
  return rng.weighted((embedded ? EMBEDDED_ROUTES : ROUTES).map((r) => [r.weight, r] as const));
}

/** Request n of the run. */
export function generate(ctx: FuzzContext, n: number): FuzzRequest {
  const rng = Rng.for(ctx.seed, n);
  const route = pickRoute(rng, ctx.embedded !== undefined);
  const tags: string[] = [];
  let wellFormed = true;
  let fresh = false;

  let method = rng.pick(route.methods);
  const methodRoll = rng.int(100);
  if (methodRoll < 12) method = rng.pick(STANDARD_METHODS);
  else if (methodRoll < 14) {
    method = rng.pick(KNOWN_ODD_METHODS);
  } else if (methodRoll < 17) {
    method = rng.pick(JUNK_METHODS);
    wellFormed = false;
    fresh = true;
    tags.push('junk-method');
  }

  let revokes: SessionKind | undefined;
  let path = route.path;
  if (path.includes('{id}')) {
    const user = userIdFor(rng, ctx);
    path = path.replace('{id}', user.id);
    revokes = user.revokes;
    tags.push(user.tag);
  }
  let validPath = true;
  if (rng.chance(0.3)) {
    const mutated = mutatePath(rng, path, ctx.port);
    path = mutated.path;
    validPath = mutated.valid;
    tags.push(`path:${mutated.tag}`);
    // A revoke only goes out on the exact route.
    if (mutated.tag !== 'absolute-form') revokes = undefined;
  }
  if (!validPath) {
    wellFormed = false;
    fresh = true;
  }
  const q = queryFor(rng, route, ctx);
  if (q.tag !== '') tags.push(q.tag);
  const target = path + q.query;

  const headers: Header[] = [];
  const hostRoll = rng.int(50);
  if (hostRoll === 0) {
    tags.push('no-host');
    wellFormed = false;
    fresh = true;
  } else if (hostRoll === 1) {
    headers.push(['Host', `127.0.0.1:${ctx.port}`], ['Host', 'evil.example']);
    tags.push('two-hosts');
    wellFormed = false;
    fresh = true;
  } else {
    headers.push(['Host', hostRoll === 2 ? 'evil.example' : `127.0.0.1:${ctx.port}`]);
  }

  let requestId: string | undefined = `fz-${ctx.seed}-${n}`;
  if (rng.chance(0.12)) {
    const odd = rng.pick([
      '',
      'a'.repeat(129),
      'a'.repeat(128),
      'with space',
      '<script>',
      latin1Of('é'),
      '../../etc',
      'x\ty',
      '%ZZ',
      'fz;rm',
    ]);
    headers.push(['X-Request-Id', odd]);
    if (rng.chance(0.2)) headers.push(['X-Request-Id', `fz-dup-${n}`]);
    requestId = /^[A-Za-z0-9._:-]{1,128}$/.test(odd) ? odd : undefined;
    tags.push('odd-request-id');
  } else {
    headers.push(['X-Request-Id', requestId]);
  }

  // The session: none, a real one of either kind, or a forged one.
  let session: SessionRef | undefined;
  const sessionRoll = rng.int(100);
  const wantsAdmin = route.audience === 'admin';
  let cookie: string | undefined;
  if (sessionRoll < 30) {
    tags.push('no-session');
  } else if (sessionRoll < 85) {
    const kind: SessionKind = sessionRoll < 70 === wantsAdmin ? 'admin' : 'agent';
    session = ctx.session(kind, rng);
    cookie = session?.cookie;
    tags.push(session ? kind : `${kind}-none-alive`);
  } else {
    const forged = forgedCookie(rng, ctx, ctx.session(rng.chance(0.5) ? 'admin' : 'agent', rng));
    cookie = forged.cookie;
    tags.push(`cookie:${forged.tag}`);
  }
  const popupRoute = route.path === '/auth/popup' || route.path === '/auth/handoff';
  if (ctx.embedded !== undefined && popupRoute) {
    const frame = frameCookie(rng, ctx.embedded);
    if (frame.cookie !== undefined)
      cookie = cookie === undefined ? frame.cookie : `${cookie}; ${frame.cookie}`;
    tags.push(`frame:${frame.tag}`);
  }
  if (cookie !== undefined) {
    if (rng.chance(0.05)) cookie = `a=b; ${cookie}; theme=dark`;
    headers.push(['Cookie', cookie]);
  }

  // Anti-forgery headers, right and wrong.
  let antiForgeryOk = true;
  const csrfRoll = rng.int(100);
  if (csrfRoll < 80) headers.push(['X-CSRF', '1']);
  else {
    antiForgeryOk = false;
    const odd = rng.pick([undefined, '0', 'true', ' 1', '11', '', '1, 1']);
    if (odd !== undefined) headers.push(['X-CSRF', odd]);
    if (rng.chance(0.2)) headers.push(['X-CSRF', '1'], ['X-CSRF', '1']);
    tags.push('csrf-wrong');
  }
  const originRoll = rng.int(100);
  if (originRoll < 15) headers.push(['Origin', ctx.origin]);
  else if (originRoll < 27) {
    antiForgeryOk = false;
    headers.push([
      'Origin',
      rng.pick([
        'null',
        'http://evil.example',
        `${ctx.origin}/`,
        'http://127.0.0.1',
        ctx.origin.toUpperCase(),
        `http://x${'x'.repeat(10_000)}.example`,
        latin1Of('http://é.example'),
      ]),
    ]);
    tags.push('origin-wrong');
  }
  const siteRoll = rng.int(100);
  if (siteRoll < 12) headers.push(['Sec-Fetch-Site', rng.pick(['same-origin', 'none'])]);
  else if (siteRoll < 22) {
    antiForgeryOk = false;
    headers.push([
      'Sec-Fetch-Site',
      rng.pick(['cross-site', 'same-site', 'junk', '', 'SAME-ORIGIN']),
    ]);
    tags.push('site-wrong');
  }
  if (rng.chance(0.1)) {
    headers.push(
      ['Sec-Fetch-Mode', 'navigate'],
      ['Accept', rng.pick(['text/html', 'text/html,*/*;q=0.1', '*/*'])],
    );
  }
  if (route.path === '/session/events') headers.push(['Accept', 'text/event-stream']);

  // The body: a timeout document for PUT, sometimes something for everyone else; encodings.
  let body: Buffer | undefined;
  let contentType: string | undefined;
  if (method === 'PUT' && route.path === '/admin/tokens/timeout') {
    const made = timeoutBody(rng);
    body = made.body;
    contentType = made.type;
    tags.push(`body:${made.tag}`);
  } else if (ctx.embedded !== undefined && popupRoute && method === 'POST') {
    const made = embeddedBody(rng, ctx.embedded, route.path);
    body = made.body;
    contentType = made.type;
    tags.push(`body:${made.tag}`);
  } else if (rng.chance(0.15)) {
    const made = rng.pick([
      { body: Buffer.from('{"a":1}'), type: 'application/json' },
      { body: Buffer.from('a=1&b=2'), type: 'application/x-www-form-urlencoded' },
      { body: rng.bytes(rng.range(1, 200)), type: 'application/octet-stream' },
      { body: Buffer.alloc(20_000, 0x61), type: 'text/plain' },
      { body: Buffer.from('{'), type: 'application/json' },
    ]);
    body = made.body;
    contentType = made.type;
    tags.push('body:other');
  }
  if (body !== undefined && rng.chance(0.3)) {
    const encoded = encode(rng, body);
    body = encoded.body;
    headers.push(['Content-Encoding', encoded.encoding]);
    tags.push(`enc:${encoded.tag}`);
  }
  if (contentType !== undefined) headers.push(['Content-Type', contentType]);

  // Other headers a hostile client sends.
  const extraRoll = rng.int(100);
  if (extraRoll < 3) {
    const size = rng.pick([8000, 14_000, 17_000, 40_000]);
    headers.push(['X-Fill', 'f'.repeat(size)]);
    tags.push(`huge-header-${size}`);
    if (size > 14_000) fresh = true;
  } else if (extraRoll < 4) {
    const count = rng.pick([200, 1000, 3000]);
    for (let i = 0; i < count; i += 1) headers.push([`X-H${i}`, 'v']);
    tags.push(`headers-${count}`);
    fresh = true;
  } else if (extraRoll < 12) {
    headers.push(
      rng.pick<Header>([
        ['X-Forwarded-For', '1.2.3.4'],
        ['X-Forwarded-Host', 'evil.example'],
        ['X-Forwarded-Proto', 'https'],
        ['Forwarded', 'for=1.2.3.4;proto=https;host=evil.example'],
        ['Authorization', `Bearer ${randomUUID()}`],
        ['X-HTTP-Method-Override', 'DELETE'],
        ['Range', 'bytes=0-1'],
        ['If-None-Match', '*'],
        ['Accept-Encoding', 'gzip, br'],
        ['TE', 'trailers'],
        ['Expect', '100-continue'],
        ['Expect', 'teapot'],
        ['Connection', 'close'],
        ['Accept', 'application/problem+json'],
        ['X_Under', '1'],
        ['X-Null', 'a\x00b'],
        [latin1Of('X-Ünicode'), '1'],
        ['X-Latin', latin1Of('café')],
      ]),
    );
    const last = headers[headers.length - 1] as Header;
    tags.push(`hdr:${last[0]}`);
    if (last[0] === 'Expect' && last[1] !== '100-continue') fresh = true;
    if (last[0] === 'X-Null' || last[0].startsWith('X-\xc3')) {
      wellFormed = false;
      fresh = true;
    }
  }

  let version = 'HTTP/1.1';
  if (rng.chance(0.02)) {
    version = rng.pick([
      'HTTP/1.0',
      'HTTP/2.0',
      'HTTP/0.9',
      'http/1.1',
      'HTTP/1.1 ',
      'HTTP/9.9',
      'HTTP/1',
    ]);
    tags.push(`version:${version.trim()}`);
    fresh = true;
    if (version !== 'HTTP/1.0') wellFormed = false;
  }

  let chunked = false;
  if (body !== undefined && rng.chance(0.05)) {
    chunked = true;
    headers.push(['Transfer-Encoding', 'chunked']);
    tags.push('chunked');
  }
  let bodyBytes = body;
  if (chunked && body !== undefined) {
    const parts: Buffer[] = [];
    for (let i = 0; i < body.length; i += 1000) {
      const piece = body.subarray(i, i + 1000);
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    bodyBytes = Buffer.concat(parts);
  }

  if (!STANDARD_METHODS.includes(method) && !KNOWN_ODD_METHODS.includes(method)) wellFormed = false;
  const bytes = serialize({
    method,
    target,
    version,
    headers,
    ...(bodyBytes ? { body: bodyBytes } : {}),
  });
  const exactRoute =
    path === route.path ||
    path.replace(/\/admin\/users\/[^/]*\/tokens$/, '/admin/users/{id}/tokens') === route.path;
  const endsSession =
    session !== undefined &&
    antiForgeryOk &&
    exactRoute &&
    q.query === '' &&
    ((method === 'DELETE' && route.path === '/session') ||
      (method === 'POST' && route.path === '/auth/logout'));
  return {
    n,
    label: `${method.slice(0, 12)} ${route.path}${tags.length > 0 ? ` ${tags.join(' ')}` : ''}`,
    bytes,
    method,
    requestId,
    wellFormed,
    fresh,
    stream: route.path === '/session/events',
    session,
    endsSession,
    revokesUser:
      method === 'DELETE' && session?.kind === 'admin' && antiForgeryOk ? revokes : undefined,
    handoff:
      ctx.embedded !== undefined &&
      route.path === '/auth/handoff' &&
      method === 'POST' &&
      exactRoute &&
      q.query === '' &&
      wellFormed &&
      !fresh &&
      version === 'HTTP/1.1' &&
      !tags.some((t) => /^(huge-header|hdr:Expect|hdr:TE|junk)/.test(t)),
  };
}
