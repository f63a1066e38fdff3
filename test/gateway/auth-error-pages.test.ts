import { AGENT_USER } from '../../emulator/genesys-emulator';
import type { ClientResponse } from '../support/browser-client';
import { navigate } from '../support/navigate';
import { beginLogin, setCookieLines, useHarness } from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';
import { StoreUnavailableError } from '../../server/stores/errors';

/**
 * Asserts the HTML page of a failed login: the status, the headers the contract names, the
 * response's own request id on the page, a link to start again; returns the body.
 */
function expectErrorPage(res: ClientResponse, status: number, again = '/auth/login'): string {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('vary')).toMatch(/Accept, Sec-Fetch-Mode/);
  // helmet's headers stay: the page lives under the gateway's default CSP.
  expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  const body = res.text;
  expect(body).toMatch(/^<!doctype html>/);
  expect(body).not.toMatch(/<script|<[^>]*\son\w+=/i);
  const requestId = res.headers.get('x-request-id') ?? '';
  expect(requestId).not.toBe('');
  expect(body).toContain(`<code id="request-id">${requestId}</code>`);
  expect(body).toContain(`<a id="again" href="${again}">`);
  expect(body).toContain(`>${status} `);
  return body;
}

/** The text of the page's detail paragraph, entities as they are. */
function detailOf(page: string): string {
  return /<p id="detail">([^<]*)<\/p>/.exec(page)?.[1] ?? '';
}

describe('GET /auth/callback, failing in a browser navigation', () => {
  const h = useHarness();

  it('without any login in this browser: a 400 page that names the likely cause, another address', async () => {
    const res = await navigate(h.client(), '/auth/callback?state=stale-state&code=x');
    const page = expectErrorPage(res, 400);
    const port = new URL(h.url).port;
    expect(detailOf(page)).toBe(
      `This browser has no login in progress at ${h.url}. Most likely the login was started at ` +
        `another address of this server (such as http://localhost:${port}), and the browser kept ` +
        `its cookies there: open ${h.url}/ and log in from there. A login left unfinished for ` +
        `more than 10 minutes ends the same way.`,
    );
    expect(page).toContain('The login did not finish');
    expect(h.emulator.requestsFor('token')).toHaveLength(0);
  });

  it('with a stale state while another login is pending: the unknown-state page, not the address advice', async () => {
    const browser = h.client();
    await beginLogin(h, browser, AGENT_USER);
    const res = await navigate(browser, '/auth/callback?state=some-older-state&code=x');
    const page = expectErrorPage(res, 400);
    expect(detailOf(page)).toBe(
      'Unknown, expired or already used login state: start again at /auth/login.',
    );
  });

  it('when the state was already used: a 400 page, offering to start that login again', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER, { returnTo: '/again' });
    // The login's cookies copied before it finished, and presented again after (a replay).
    const replay = h.client();
    for (const [name, cookie] of browser.cookies) replay.cookies.set(name, cookie);
    expect((await browser.get(login.callbackUrl)).status).toBe(302);
    const res = await navigate(replay, login.callbackUrl);
    const page = expectErrorPage(res, 400, '/auth/login?returnTo=%2Fagain');
    expect(detailOf(page)).toBe('This login state was already used: start again at /auth/login.');
  });

  it('when the user denies access: a 403 page saying so, offering to start the same login again', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER, { returnTo: '/where-i-was?tab=2' });
    const res = await navigate(browser, `/auth/callback?state=${login.state}&error=access_denied`);
    const page = expectErrorPage(res, 403, '/auth/login?returnTo=%2Fwhere-i-was%3Ftab%3D2');
    expect(detailOf(page)).toBe(
      'Genesys did not complete the login: access_denied. The sign-in was cancelled, or this ' +
        'user may not use this app.',
    );
    expect(setCookieLines(res.headers, 'bff.sid')).toEqual([]);
    expect(await h.store.countSessions()).toBe(0);
  });

  it('escapes what Genesys said: an error_description with markup arrives as text', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    h.emulator.fault(
      { operation: 'token' },
      {
        status: 400,
        body: { error: 'invalid_grant', error_description: `<img src=x onerror='alert(1)'>&` },
      },
    );
    const res = await navigate(browser, login.callbackUrl);
    const page = expectErrorPage(res, 400);
    expect(page).not.toContain('<img');
    expect(detailOf(page)).toBe(
      'Genesys refused the login: invalid_grant (&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;).',
    );
  });

  it('does not echo an error code that is not shaped like an OAuth one', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    const res = await navigate(
      browser,
      `/auth/callback?state=${login.state}&error=${encodeURIComponent('<script>x</script>')}`,
    );
    const page = expectErrorPage(res, 400);
    expect(detailOf(page)).toBe('Genesys did not complete the login: unknown_error.');
  });

  it('keeps the status of an outage: Genesys unreachable is a 502 page, and the login can be retried', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER, { returnTo: '/app' });
    h.emulator.fault({ operation: 'token' }, { reset: true });
    const res = await navigate(browser, login.callbackUrl);
    expectErrorPage(res, 502, '/auth/login?returnTo=%2Fapp');
  });

  it('carries the headers of its problem: a 503 page keeps Retry-After', async () => {
    const browser = h.client();
    const login = await beginLogin(h, browser, AGENT_USER);
    jest.spyOn(h.store, 'claimOnce').mockRejectedValueOnce(new StoreUnavailableError('store down'));
    const res = await navigate(browser, login.callbackUrl);
    expectErrorPage(res, 503);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('answers a HEAD navigation with the page headers and no body', async () => {
    const res = await navigate(h.client(), '/auth/callback?state=x', { method: 'HEAD' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.text).toBe('');
  });

  it('takes an Accept preferring HTML for a navigation when the browser sends no fetch metadata', async () => {
    const res = await navigate(h.client(), '/auth/callback?state=x', {
      headers: { 'Sec-Fetch-Mode': '', Accept: 'text/html' },
    });
    expectErrorPage(res, 400);
  });
});

describe('GET /auth/callback, failing for a script', () => {
  const h = useHarness();

  it.each([
    ["a fetch() (undici's own Sec-Fetch-Mode: cors, Accept: */*)", 'fetch', {}],
    ['a fetch() that asks for HTML: Sec-Fetch-Mode decides', 'fetch', { Accept: 'text/html' }],
    ['Sec-Fetch-Mode: cors with a browser Accept', 'raw', { 'Sec-Fetch-Mode': 'cors' }],
    ['no fetch metadata, Accept: */*', 'raw', { 'Sec-Fetch-Mode': '', Accept: '*/*' }],
    ['no fetch metadata, no Accept', 'raw', { 'Sec-Fetch-Mode': '', Accept: '' }],
    [
      'no fetch metadata, JSON preferred over HTML',
      'raw',
      { 'Sec-Fetch-Mode': '', Accept: 'application/json, text/html;q=0.5' },
    ],
  ])('keeps problem+json for %s', async (_name, how, headers: Record<string, string>) => {
    const path = '/auth/callback?state=stale-state&code=x';
    const res =
      how === 'fetch'
        ? await h.client().get(path, { headers })
        : await navigate(h.client(), path, { headers });
    const body = expectProblem(res, 400);
    expect(body.type).toBe('urn:tokens-bff:problem:no-pending-login');
    expect(body.detail).toContain(`no login in progress at ${h.url}`);
    expect(res.headers.get('vary')).toMatch(/Accept, Sec-Fetch-Mode/);
  });
});

describe('GET /auth/login, failing in a browser navigation', () => {
  const h = useHarness();

  it('an unsafe returnTo is a 400 page that does not repeat it, linking to a plain login', async () => {
    const res = await navigate(
      h.client(),
      `/auth/login?returnTo=${encodeURIComponent('//evil.example')}`,
    );
    const page = expectErrorPage(res, 400);
    expect(page).not.toContain('evil.example');
    expect(page).toContain('The login could not start');
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('a form posting to /auth/login gets a 405 page with Allow', async () => {
    const res = await navigate(h.client(), '/auth/login', {
      method: 'POST',
      headers: { Origin: h.url, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    expectErrorPage(res, 405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('routes other than the login ones never answer a page', () => {
  const h = useHarness();

  it.each([
    ['GET /session', '/session', {}, 403],
    ['GET /session with X-CSRF', '/session', { 'X-CSRF': '1' }, 401],
    ['GET /admin/tokens/timeout with X-CSRF', '/admin/tokens/timeout', { 'X-CSRF': '1' }, 401],
    ['GET /auth/login/ (another route)', '/auth/login/', {}, 404],
    ['GET /Auth/callback (another route)', '/Auth/callback', {}, 404],
    ['GET /nowhere', '/nowhere', {}, 404],
  ])('%s, navigated to, is problem+json', async (_name, path, headers, status) => {
    const res = await navigate(h.client(), path, { headers });
    expectProblem(res, status);
  });
});

describe('GET /auth/login reached under another name than PUBLIC_BASE_URL', () => {
  const h = useHarness();
  const port = (): string => new URL(h.url).port;

  it.each([['localhost'], ['LOCALHOST'], ['[::1]'], ['192.168.1.5']])(
    'as %s on the same port: redirected to start at PUBLIC_BASE_URL, keeping returnTo, no login cookie set',
    async (name) => {
      const res = await navigate(h.client(), '/auth/login?returnTo=%2Fapp%3Fx%3D1', {
        headers: { Host: `${name}:${port()}` },
      });
      expect(res.status).toBe(302);
      expect(res.location).toBe(`${h.url}/auth/login?returnTo=%2Fapp%3Fx%3D1`);
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(res.headers.get('cache-control')).toBe('no-store');
    },
  );

  it('without a returnTo, to the plain login', async () => {
    const res = await navigate(h.client(), '/auth/login', {
      headers: { Host: `localhost:${port()}` },
    });
    expect(res.location).toBe(`${h.url}/auth/login`);
  });

  it('checks returnTo first: an unsafe one is refused, not carried to the other address', async () => {
    const res = await navigate(h.client(), '/auth/login?returnTo=%2F%2Fevil', {
      headers: { Host: `localhost:${port()}` },
    });
    expectErrorPage(res, 400);
  });

  it.each([
    ['its own name', (p: string) => `127.0.0.1:${p}`],
    ['another port, as a dev server proxying with changeOrigin sends', () => '127.0.0.1:5173'],
    ['another port under another name', () => 'localhost:5173'],
  ])('with %s: the login starts as usual', async (_name, host) => {
    const res = await navigate(h.client(), '/auth/login', { headers: { Host: host(port()) } });
    expect(res.status).toBe(302);
    expect(res.location).toMatch(new RegExp(`^${h.emulator.url}/oauth/authorize\\?`));
  });

  it('behind a proxy (PUBLIC_BASE_URL not loopback) the Host is not second-guessed', async () => {
    await h.restart({ env: { PUBLIC_BASE_URL: 'https://app.example.com', TRUST_PROXY: 'true' } });
    const res = await navigate(h.client(), '/auth/login', {
      headers: { Host: 'bff.internal:3000' },
    });
    expect(res.status).toBe(302);
    expect(res.location).toMatch(new RegExp(`^${h.emulator.url}/oauth/authorize\\?`));
    // Nor does the callback's advice name a loopback address there.
    const callback = await h.client().get('/auth/callback?state=x&code=y');
    expect(expectProblem(callback, 400).detail).toBe(
      'This browser has no login in progress at https://app.example.com. Most likely the login ' +
        'was started at another address of this server, and the browser kept its cookies there: ' +
        'open https://app.example.com/ and log in from there. A login left unfinished for more ' +
        'than 10 minutes ends the same way.',
    );
  });
});
