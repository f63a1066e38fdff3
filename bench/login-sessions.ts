import type { EmulatorUser, GenesysEmulator } from '../test/emulator/genesys-emulator';

/** The `name=value` pair of a Set-Cookie line, when it sets cookie `name`. */
function cookiePair(headers: Headers, name: string): string | undefined {
  const line = headers.getSetCookie().find((l) => l.startsWith(`${name}=`));
  return line?.slice(0, line.indexOf(';'));
}

async function redirectOf(response: Response, step: string): Promise<string> {
  const location = response.headers.get('location');
  if (response.status !== 302 || location === null) {
    throw new Error(`${step}: ${response.status} ${await response.text()}`);
  }
  return location;
}

/**
 * Logs `user` in through the real flow, as a browser would: /auth/login, the emulator's authorize
 * (auto-approved), /auth/callback with the login-transaction cookie. Resolves with the session
 * cookie as a `Cookie` header value.
 */
async function loginOnce(
  gatewayUrl: string,
  sessionCookieName: string,
  emulator: GenesysEmulator,
  user: EmulatorUser,
): Promise<string> {
  const start = await fetch(`${gatewayUrl}/auth/login`, { redirect: 'manual' });
  const authorizeUrl = await redirectOf(start, 'login');
  // The transaction cookie is the one scoped to /auth/callback; the gateway may name it per login.
  const transaction = start.headers
    .getSetCookie()
    .find((l) => /;\s*path=\/auth\/callback/i.test(l));
  if (transaction === undefined) throw new Error('login: no transaction cookie was set');
  emulator.autoApprove(user.id);
  const callbackUrl = await redirectOf(
    await fetch(authorizeUrl, { redirect: 'manual' }),
    'authorize',
  );
  const callback = await fetch(callbackUrl, {
    redirect: 'manual',
    headers: { cookie: transaction.slice(0, transaction.indexOf(';')) },
  });
  await redirectOf(callback, 'callback');
  const session = cookiePair(callback.headers, sessionCookieName);
  if (session === undefined) throw new Error('callback: no session cookie was set');
  return session;
}

/** `count` logged-in sessions, one after the other, taking the users in turn. */
export async function loginSessions(options: {
  gatewayUrl: string;
  sessionCookieName: string;
  emulator: GenesysEmulator;
  users: readonly EmulatorUser[];
  count: number;
}): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < options.count; i += 1) {
    const user = options.users[i % options.users.length] as EmulatorUser;
    cookies.push(
      await loginOnce(options.gatewayUrl, options.sessionCookieName, options.emulator, user),
    );
  }
  return cookies;
}
