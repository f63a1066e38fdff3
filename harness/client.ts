import {
  Connection,
  header,
  headers,
  serialize,
  type RawRequest,
  type RawResponse,
} from './raw-http';
import { SESSION_COOKIE } from './stack';

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

/**
 * A login through the emulator, as a browser does it with the user picking `userId` on the
 * emulator's login page: `GET /auth/login` (302 to authorize, login cookies) → the login
 * form's `POST /oauth/authorize/approve` (302 back with code and state) → `GET /auth/callback`
 * with the login cookies (302, the session cookie). Resolves with `bff.sid=…`.
 */
export async function login(
  client: Client,
  target: LoginTarget,
  userId: string,
  returnTo = '/',
): Promise<string> {
  const host: [string, string] = ['Host', `127.0.0.1:${target.port}`];
  const start = await client.send(target.port, {
    method: 'GET',
    target: `/auth/login?returnTo=${encodeURIComponent(returnTo)}`,
    headers: [host, ['Accept', 'application/json']],
  });
  const authorize = header(start, 'location');
  if (start.status !== 302 || authorize === undefined) {
    throw new LoginFailed(`login:${start.status}`);
  }
  const loginCookies = [...setCookies(start)].map(([k, v]) => `${k}=${v}`).join('; ');
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
  const done = await client.send(target.port, {
    method: 'GET',
    target: `${back.pathname}${back.search}`,
    headers: [host, ['Cookie', loginCookies]],
  });
  const session = setCookies(done).get(SESSION_COOKIE);
  if (done.status !== 302 || session === undefined) {
    throw new LoginFailed(`callback:${done.status}`);
  }
  return `${SESSION_COOKIE}=${session}`;
}
