import {
  Connection,
  header,
  headers,
  serialize,
  type RawRequest,
  type RawResponse,
} from './raw-http';

/**
 * A browser-ish client on raw connections: one keep-alive connection per port, one request at a
 * time, and the login a browser does through the emulator's OAuth flow.
 */

/** No answer: the connection closed first, or the time ran out. */
export class NoAnswer extends Error {
  constructor(readonly reason: 'closed' | 'timeout' | 'connect') {
    super(`no answer (${reason})`);
  }
}

export class Client {
  private readonly connections = new Map<number, Connection>();

  /** Sends `req` to 127.0.0.1:`port`, on a kept connection when one is alive. */
  async send(port: number, req: RawRequest, timeoutMs = 10_000): Promise<RawResponse> {
    let conn = this.connections.get(port);
    if (conn === undefined || !conn.reusable || conn.extra.length > 0) {
      conn?.destroy();
      try {
        conn = await Connection.open(port);
      } catch {
        throw new NoAnswer('connect');
      }
      this.connections.set(port, conn);
    }
    const want = conn.sent + 1;
    conn.write(serialize(req), [req.method]);
    const wait = await conn.until(want, timeoutMs);
    if (wait !== 'ok') {
      conn.destroy();
      this.connections.delete(port);
      throw new NoAnswer(wait === 'timeout' ? 'timeout' : 'closed');
    }
    const res = conn.response(want - 1) as RawResponse;
    conn.release();
    return res;
  }

  close(): void {
    for (const conn of this.connections.values()) conn.destroy();
    this.connections.clear();
  }
}

/** The `name=value` pairs an answer sets, skipping deletions (empty value, expired, Max-Age=0). */
export function setCookies(res: RawResponse): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of headers(res, 'set-cookie')) {
    const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const value = pair.slice(eq + 1);
    const maxAge = attrs.find((a) => /^max-age=/i.test(a));
    const expires = attrs.find((a) => /^expires=/i.test(a));
    const gone =
      value === '' ||
      (maxAge !== undefined && Number(maxAge.slice(8)) <= 0) ||
      (expires !== undefined && Date.parse(expires.slice(8)) <= Date.now());
    if (!gone) out.set(pair.slice(0, eq), value);
  }
  return out;
}

export interface LoginTarget {
  readonly port: number;
  readonly origin: string;
  readonly emulatorPort: number;
}

/** Why a login failed, by step and status (`callback:400`). */
export class LoginFailed extends Error {
  constructor(readonly step: string) {
    super(`login failed at ${step}`);
  }
}

/** The `name=value` pairs of a cookie map, as a Cookie header sends them. */
export function cookieHeader(cookies: ReadonlyMap<string, string>): string {
  return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
}

/**
 * The one cookie an answer sets and does not delete, as `name=value`, with its Set-Cookie line:
 * the session cookie of a login's last answer, whatever the gateway's mode names it. Undefined
 * when it sets none, or more than one.
 */
export function onlyCookie(
  res: RawResponse,
): { pair: string; name: string; line: string } | undefined {
  const set = [...setCookies(res)];
  if (set.length !== 1) return undefined;
  const [name, value] = set[0] as [string, string];
  const line = headers(res, 'set-cookie').find((l) => l.startsWith(`${name}=${value}`)) ?? '';
  return { pair: `${name}=${value}`, name, line };
}

/**
 * The browser's round trip through the emulator, from a gateway login URL to the gateway's answer
 * to the callback: `GET start` (302 to authorize, login cookies) → the login form's
 * `POST /oauth/authorize/approve` with `userId` (302 back with code and state) →
 * `GET /auth/callback` with the login cookies. Resolves with the callback's answer.
 */
async function throughEmulator(
  client: Client,
  target: LoginTarget,
  start: string,
  userId: string,
): Promise<RawResponse> {
  const host: [string, string] = ['Host', `127.0.0.1:${target.port}`];
  const first = await client.send(target.port, {
    method: 'GET',
    target: start,
    headers: [host, ['Accept', 'application/json']],
  });
  const authorize = header(first, 'location');
  if (first.status !== 302 || authorize === undefined) {
    throw new LoginFailed(`login:${first.status}`);
  }
  const form = new URLSearchParams(new URL(authorize).searchParams);
  form.set('user_id', userId);
  const approved = await client.send(target.emulatorPort, {
    method: 'POST',
    target: '/oauth/authorize/approve',
    headers: [
      ['Host', `127.0.0.1:${target.emulatorPort}`],
      ['Content-Type', 'application/x-www-form-urlencoded'],
    ],
    body: Buffer.from(form.toString()),
  });
  const callback = header(approved, 'location');
  if (approved.status !== 302 || callback === undefined) {
    throw new LoginFailed(`approve:${approved.status}`);
  }
  const back = new URL(callback);
  return client.send(target.port, {
    method: 'GET',
    target: `${back.pathname}${back.search}`,
    headers: [host, ['Cookie', cookieHeader(setCookies(first))]],
  });
}

/**
 * A login through the emulator, as a browser does it with the user picking `userId` on the
 * emulator's login page (throughEmulator), the callback answering 302 with the session cookie.
 * Resolves with that cookie's `name=value`, read from the Set-Cookie.
 */
export async function login(
  client: Client,
  target: LoginTarget,
  userId: string,
  returnTo = '/',
): Promise<string> {
  const done = await throughEmulator(
    client,
    target,
    `/auth/login?returnTo=${encodeURIComponent(returnTo)}`,
    userId,
  );
  const session = onlyCookie(done);
  if (done.status !== 302 || session === undefined) {
    throw new LoginFailed(`callback:${done.status}`);
  }
  return session.pair;
}

/** The embedded mode's anti-forgery headers of a frame's fetch (docs/embedded.md). */
export function frameHeaders(target: LoginTarget): [string, string][] {
  return [
    ['Host', `127.0.0.1:${target.port}`],
    ['X-CSRF', '1'],
    ['Origin', target.origin],
  ];
}

/** `POST /auth/popup` from a frame: the login URL and the frame's binding cookie (`name=value`). */
export async function askPopup(
  frame: Client,
  target: LoginTarget,
  binding?: string,
): Promise<{ res: RawResponse; loginUrl: string; binding: string }> {
  const res = await frame.send(target.port, {
    method: 'POST',
    target: '/auth/popup',
    headers: [
      ...frameHeaders(target),
      ...(binding ? [['Cookie', binding] as [string, string]] : []),
    ],
  });
  let loginUrl: unknown;
  try {
    loginUrl = (JSON.parse(res.body.toString('utf8')) as { loginUrl?: unknown }).loginUrl;
  } catch {
    loginUrl = undefined;
  }
  const set = onlyCookie(res);
  if (res.status !== 200 || typeof loginUrl !== 'string' || set === undefined) {
    throw new LoginFailed(`popup:${res.status}`);
  }
  return { res, loginUrl, binding: set.pair };
}

/**
 * The popup's leg, on its own connection and cookies (a top-level window): the login at
 * `loginUrl` through the emulator, to the callback's page. Resolves with the code in its
 * `data-code`.
 */
export async function popupCode(
  popup: Client,
  target: LoginTarget,
  loginUrl: string,
  userId: string,
): Promise<{ code: string; page: RawResponse }> {
  const url = new URL(loginUrl);
  const page = await throughEmulator(popup, target, `${url.pathname}${url.search}`, userId);
  const code = /data-code="([^"]*)"/.exec(page.body.toString('utf8'))?.[1];
  if (page.status !== 200 || code === undefined)
    throw new LoginFailed(`popup-callback:${page.status}`);
  return { code, page };
}

/** `POST /auth/handoff {code}` from a frame holding `cookie` (its binding, maybe more). */
export function handoff(
  frame: Client,
  target: LoginTarget,
  code: string,
  cookie: string | undefined,
): Promise<RawResponse> {
  return frame.send(target.port, {
    method: 'POST',
    target: '/auth/handoff',
    headers: [
      ...frameHeaders(target),
      ['Content-Type', 'application/json'],
      ...(cookie !== undefined ? [['Cookie', cookie] as [string, string]] : []),
    ],
    body: Buffer.from(JSON.stringify({ code })),
  });
}

/**
 * A frame's login, embedded (docs/embedded.md#popup-login): `POST /auth/popup` from the frame,
 * the popup's login on a client of its own, then `POST /auth/handoff` with the frame's binding.
 * Resolves with the session cookie's `name=value` and its Set-Cookie line.
 */
export async function popupLogin(
  frame: Client,
  target: LoginTarget,
  userId: string,
): Promise<{ pair: string; name: string; line: string }> {
  const { loginUrl, binding } = await askPopup(frame, target);
  const popup = new Client();
  let code: string;
  try {
    ({ code } = await popupCode(popup, target, loginUrl, userId));
  } finally {
    popup.close();
  }
  const done = await handoff(frame, target, code, binding);
  const session = onlyCookie(done);
  if (done.status !== 204 || session === undefined) {
    throw new LoginFailed(`handoff:${done.status}`);
  }
  return session;
}
