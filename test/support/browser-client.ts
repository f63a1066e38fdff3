/**
 * A minimal browser stand-in for integration tests: fetch with a cookie jar that honours Path and
 * deletion, never follows redirects on its own, and sends the anti-forgery header when asked.
 */
export interface StoredCookie {
  value: string;
  path: string;
  attributes: string;
}

export interface ClientResponse {
  status: number;
  headers: Headers;
  text: string;
  json<T = Record<string, unknown>>(): T;
  location: string | undefined;
}

export class BrowserClient {
  readonly cookies = new Map<string, StoredCookie>();

  constructor(readonly origin: string) {}

  /** RFC 6265 §5.1.4 path-match. */
  static pathMatches(requestPath: string, cookiePath: string): boolean {
    if (requestPath === cookiePath) return true;
    if (!requestPath.startsWith(cookiePath)) return false;
    return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
  }

  cookieHeaderFor(url: URL): string {
    const parts: string[] = [];
    for (const [name, c] of this.cookies) {
      if (BrowserClient.pathMatches(url.pathname, c.path)) parts.push(`${name}=${c.value}`);
    }
    return parts.join('; ');
  }

  absorb(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? '/';
      const maxAge = attrs.find((a) => /^max-age=/i.test(a));
      const expires = attrs.find((a) => /^expires=/i.test(a));
      const gone =
        (maxAge !== undefined && Number(maxAge.slice(8)) <= 0) ||
        (expires !== undefined && Date.parse(expires.slice(8)) <= Date.now());
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, { value, path, attributes: attrs.join('; ') });
    }
  }

  /** One request; `url` may be a path on the origin or an absolute URL (the emulator). */
  async request(
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: string; csrf?: boolean } = {},
  ): Promise<ClientResponse> {
    const target = new URL(url, this.origin);
    const headers: Record<string, string> = { ...init.headers };
    if (init.csrf) headers['X-CSRF'] = '1';
    const cookie = target.origin === this.origin ? this.cookieHeaderFor(target) : '';
    if (cookie) headers.Cookie = cookie;
    const res = await fetch(target, {
      method,
      headers,
      redirect: 'manual',
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    if (target.origin === this.origin) this.absorb(res.headers);
    const text = method === 'HEAD' ? '' : await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      json: <T>() => JSON.parse(text) as T,
      location: res.headers.get('location') ?? undefined,
    };
  }

  get(url: string, init?: Parameters<BrowserClient['request']>[2]): Promise<ClientResponse> {
    return this.request('GET', url, init);
  }

  /** Follows redirects across the gateway and the emulator, as a browser would; returns the last answer. */
  async follow(url: string, max = 10): Promise<ClientResponse & { url: string }> {
    let current = url;
    for (let i = 0; i < max; i += 1) {
      const res = await this.get(current);
      if (res.status < 300 || res.status >= 400 || res.location === undefined) {
        return { ...res, url: new URL(current, this.origin).toString() };
      }
      current = new URL(res.location, new URL(current, this.origin)).toString();
    }
    throw new Error(`more than ${max} redirects from ${url}`);
  }
}
