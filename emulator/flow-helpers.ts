import { createHash, randomBytes } from 'node:crypto';

/** A fresh RFC 7636 S256 pair. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export function basicAuth(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}

/** GET {base}/oauth/authorize without following the redirect. */
export function authorizeRequest(base: string, params: Record<string, string>): Promise<Response> {
  return fetch(`${base}/oauth/authorize?${new URLSearchParams(params).toString()}`, {
    redirect: 'manual',
  });
}

/** POST {base}/oauth/token as a form, with HTTP Basic when `basic` is given. */
export function tokenRequest(
  base: string,
  form: Record<string, string>,
  basic?: { clientId: string; secret: string },
): Promise<Response> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (basic) headers.authorization = basicAuth(basic.clientId, basic.secret);
  return fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(form).toString(),
  });
}

/** The query of a 302's Location, e.g. code and state. */
export function redirectParams(res: Response): URLSearchParams {
  const location = res.headers.get('location');
  if (location === null) throw new Error(`expected a redirect, got ${res.status}`);
  return new URL(location).searchParams;
}
