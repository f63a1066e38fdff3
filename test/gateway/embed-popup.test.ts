import { ADMIN_USER, AGENT_USER } from '../../emulator/genesys-emulator';
import type { BrowserClient } from '../support/browser-client';
import { useHarness, type Harness } from '../support/gateway-harness';
import { expectProblem } from '../support/expect-problem';
import { navigate } from '../support/navigate';
import { createTokenVault } from '../../server/session/token-vault';

// Popup login with a one-time handoff (docs/embedded.md#popup-login), at the HTTP level: each
// BrowserClient stands for one cookie jar, as a browser keeps one per partition. The frame (a
// third party under Genesys Cloud) and the popup (a top-level window) are two jars; another
// frame, in another partition or on another site, is a third. The real browser runs are in
// test/browser/embedded.test.ts.
const PARENT = 'https://apps.mypurecloud.com';
const EMBEDDED = { EMBED_ORIGINS: 'genesys' };

const json = (body: unknown) => ({
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
  csrf: true,
});

/** POST /auth/popup from `frame`: the login URL its popup opens. */
async function askPopup(frame: BrowserClient, body?: unknown): Promise<string> {
  const res = await frame.request(
    'POST',
    '/auth/popup',
    body === undefined ? { csrf: true } : json(body),
  );
  expect(res.status).toBe(200);
  return res.json<{ loginUrl: string }>().loginUrl;
}

/** Runs the popup's login (its own jar) and reads the code from its last page. */
async function popupCode(h: Harness, loginUrl: string, popup = h.client()): Promise<string> {
  h.emulator.autoApprove(ADMIN_USER.id);
  const page = await popup.follow(loginUrl);
  expect(page.status).toBe(200);
  const code = /data-code="([^"]+)"/.exec(page.text)?.[1];
  if (code === undefined) throw new Error(`no code in the popup page: ${page.text}`);
  return code;
}

/** A Set-Cookie line's attributes, in any order, as `Name` or `Name=value`. */
function attributesOf(line: string | undefined): string[] {
  return (line ?? '')
    .split(';')
    .slice(1)
    .map((a) => a.trim().replace(/^expires=.*/i, 'Expires'))
    .sort();
}
const PARTITIONED = ['Expires', 'HttpOnly', 'Partitioned', 'Path=/', 'SameSite=None', 'Secure'];

const handoff = (frame: BrowserClient, code: unknown) =>
  frame.request('POST', '/auth/handoff', json({ code }));

describe('popup login, embedded (EMBED_ORIGINS)', () => {
  const h = useHarness({ env: EMBEDDED });

  it('hands the popup login to the frame: a partitioned session there, none in the popup', async () => {
    const frame = h.client();
    const ask = await frame.request(
      'POST',
      '/auth/popup',
      json({ returnTo: '/app?gcTargetEnv=x' }),
    );
    expect(ask.status).toBe(200);
    expect(ask.headers.get('cache-control')).toBe('no-store');
    const binding = ask.headers.getSetCookie().find((c) => c.startsWith('__Host-Http-bff-frame='));
    expect(binding).toMatch(/^__Host-Http-bff-frame=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=600/);
    expect(binding).toMatch(/; HttpOnly; Secure; SameSite=None; Partitioned$/);
    const { loginUrl } = ask.json<{ loginUrl: string }>();
    expect(loginUrl.startsWith(`${h.url}/auth/login?popup=`)).toBe(true);

    const popup = h.client();
    h.emulator.autoApprove(ADMIN_USER.id);
    const start = await popup.get(loginUrl);
    expect(start.status).toBe(302);
    // The popup keeps its opener (the frame) through the login.
    expect(start.headers.get('cross-origin-opener-policy')).toBe('unsafe-none');
    const page = await popup.follow(start.location as string);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('cross-origin-opener-policy')).toBe('unsafe-none');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).toContain(`data-origin="${h.url}"`);
    expect(page.text).toContain('data-return-to="/app?gcTargetEnv=x"');
    expect(page.text).toContain('<script src="/auth/popup-return.js"></script>');
    // The popup holds no session: its cookie jar has only the cleared login cookies.
    expect([...popup.cookies.keys()].some((n) => n.includes('session'))).toBe(false);
    const code = /data-code="([A-Za-z0-9_-]{43})"/.exec(page.text)?.[1] as string;
    // Not a session yet: the staged login is keyed by the code's hash, never by the code.
    expect(Object.keys(await h.store.allSessions())).not.toContain(code);
    expect(await frame.get('/session', { csrf: true })).toMatchObject({ status: 401 });

    const done = await handoff(frame, code);
    expect(done.status).toBe(204);
    const session = done.headers.getSetCookie().find((c) => c.startsWith('__Host-Http-session='));
    expect(attributesOf(session)).toEqual(PARTITIONED);
    const me = await frame.get('/session', { csrf: true });
    expect(me.status).toBe(200);
    expect((await frame.get('/session/user', { csrf: true })).json()).toMatchObject({
      user: { id: ADMIN_USER.id },
    });
    // One session in the store: the staged login went with its handoff.
    expect(await h.store.countSessions()).toBe(1);
  });

  it('refuses a replayed code, and the session it made lives on', async () => {
    const frame = h.client();
    const code = await popupCode(h, await askPopup(frame));
    expect((await handoff(frame, code)).status).toBe(204);
    const again = await handoff(frame, code);
    expect(expectProblem(again, 400)).toMatchObject({
      type: expect.stringContaining('invalid-handoff'),
    });
    expect((await frame.get('/session', { csrf: true })).status).toBe(200);
  });

  it("refuses a code from another frame's login, without spending it for the frame it is for", async () => {
    const frame = h.client();
    const code = await popupCode(h, await askPopup(frame));
    const thief = h.client();
    await askPopup(thief); // a binding of its own: another partition, another site
    expectProblem(await handoff(thief, code), 400);
    expect((await thief.get('/session', { csrf: true })).status).toBe(401);
    expect((await handoff(frame, code)).status).toBe(204);
  });

  it('refuses a handoff without the binding cookie', async () => {
    const frame = h.client();
    const code = await popupCode(h, await askPopup(frame));
    const bare = h.client();
    const res = await handoff(bare, code);
    expect(expectProblem(res, 400).detail).toMatch(/binding cookie is missing/);
    // A forged binding cookie is no better.
    bare.cookies.set('__Host-Http-bff-frame', { value: 'A'.repeat(22), path: '/', attributes: '' });
    expectProblem(await handoff(bare, code), 400);
    expect((await handoff(frame, code)).status).toBe(204);
  });

  it('refuses a code after 60 s', async () => {
    const frame = h.client();
    const code = await popupCode(h, await askPopup(frame));
    h.emulator.advance(60_001);
    expectProblem(await handoff(frame, code), 400);
    expect((await frame.get('/session', { csrf: true })).status).toBe(401);
  });

  it('hands one code over once when two handoffs race', async () => {
    const frame = h.client();
    const code = await popupCode(h, await askPopup(frame));
    const answers = await Promise.all(Array.from({ length: 8 }, () => handoff(frame, code)));
    expect(answers.map((a) => a.status).sort()).toEqual([204, 400, 400, 400, 400, 400, 400, 400]);
  });

  it('lets an admin revoke reach a login not yet handed over', async () => {
    const frame = h.client();
    const code = await popupCode(h, await askPopup(frame));
    expect(await h.store.destroyUser(ADMIN_USER.id)).toBe(1);
    expectProblem(await handoff(frame, code), 400);
  });

  it("does not list a login waiting for its frame among the user's sessions", async () => {
    const me = await h.login(ADMIN_USER);
    const frame = h.client();
    await popupCode(h, await askPopup(frame));
    const list = await me.get('/session/all', { csrf: true });
    expect(list.json<{ sessions: unknown[] }>().sessions).toHaveLength(1);
  });

  it('regenerates the session id at handoff and ends the session it replaces', async () => {
    const frame = h.client();
    expect((await handoff(frame, await popupCode(h, await askPopup(frame)))).status).toBe(204);
    const first = frame.cookies.get('__Host-Http-session')?.value;
    const firstSid = Object.keys(await h.store.allSessions());
    h.emulator.autoApprove(AGENT_USER.id);
    const second = await frame.request('POST', '/auth/popup', { csrf: true });
    const popupPage = await h.client().follow(second.json<{ loginUrl: string }>().loginUrl);
    const code = /data-code="([^"]+)"/.exec(popupPage.text)?.[1];
    expect((await handoff(frame, code)).status).toBe(204);
    expect(frame.cookies.get('__Host-Http-session')?.value).not.toBe(first);
    const sids = Object.keys(await h.store.allSessions());
    expect(sids).toHaveLength(1);
    expect(sids).not.toEqual(firstSid);
    expect((await frame.get('/session/user', { csrf: true })).json()).toMatchObject({
      user: { id: AGENT_USER.id },
    });
  });

  it('logs the frame out as everywhere else, clearing the partitioned cookie', async () => {
    const frame = h.client();
    expect((await handoff(frame, await popupCode(h, await askPopup(frame)))).status).toBe(204);
    const out = await frame.request('DELETE', '/session', { csrf: true });
    expect(out.status).toBe(204);
    const cleared = out.headers.getSetCookie().find((c) => c.startsWith('__Host-Http-session='));
    expect(cleared?.startsWith('__Host-Http-session=;')).toBe(true);
    expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
    expect(attributesOf(cleared)).toEqual(PARTITIONED);
    expect(await h.store.countSessions()).toBe(0);
  });

  it('keeps the anti-forgery rules: X-CSRF, and Origin equal to the public origin', async () => {
    const frame = h.client();
    expectProblem(await frame.request('POST', '/auth/popup'), 403);
    expectProblem(
      await frame.request('POST', '/auth/popup', { csrf: true, headers: { Origin: PARENT } }),
      403,
    );
    expectProblem(
      await frame.request('POST', '/auth/popup', {
        csrf: true,
        headers: { 'Sec-Fetch-Site': 'cross-site' },
      }),
      403,
    );
    const code = await popupCode(h, await askPopup(frame));
    expectProblem(
      await frame.request('POST', '/auth/handoff', {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ code }),
      }),
      403,
    );
    // The framed page's own fetch: Origin is the app's, Sec-Fetch-Site same-origin.
    const ok = await frame.request('POST', '/auth/handoff', {
      ...json({ code }),
      headers: {
        'Content-Type': 'application/json',
        Origin: h.url,
        'Sec-Fetch-Site': 'same-origin',
      },
    });
    expect(ok.status).toBe(204);
  });

  it.each([
    ['a ticket that is not ours', 'x'.repeat(80)],
    ['an empty ticket', ''],
  ])('answers 400 for a popup login with %s', async (_name, ticket) => {
    const res = await h.client().get(`/auth/login?popup=${ticket}`, {
      headers: { Accept: 'application/json' },
    });
    expectProblem(res, 400);
  });

  it("shows a popup's failed login a page that sends the user back to the app, not a new login", async () => {
    const frame = h.client();
    const popup = h.client();
    const start = await popup.get(await askPopup(frame));
    // The user cancels at Genesys: the callback comes back with access_denied.
    const authorize = new URL(start.location as string);
    const state = authorize.searchParams.get('state') as string;
    const page = await navigate(popup, `/auth/callback?state=${state}&error=access_denied`);
    expect(page.status).toBe(403);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.text).toContain('<p id="again">This is the login window of an app');
    expect(page.text).not.toContain('href="/auth/login');
    const bad = await navigate(h.client(), '/auth/login?popup=nope');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('close it, and log in again from the app');
    // A login of its own (not a popup's) keeps its link.
    const own = await navigate(h.client(), '/auth/callback?state=x');
    expect(own.text).toContain('<a id="again" href="/auth/login">');
  });

  it('answers 400 for a ticket older than the login transaction (10 minutes)', async () => {
    const loginUrl = await askPopup(h.client());
    h.emulator.advance(10 * 60 * 1000 + 1);
    expectProblem(await h.client().get(loginUrl, { headers: { Accept: 'application/json' } }), 400);
  });

  it.each([
    [
      'no JSON content type',
      { headers: { 'Content-Type': 'text/plain' }, body: '{"code":"x"}' },
      415,
    ],
    ['malformed JSON', { headers: { 'Content-Type': 'application/json' }, body: '{"code":' }, 400],
    ['a code that is not a string', json({ code: 42 }), 400],
    ['no body', {}, 415],
    ['a code of the wrong shape', json({ code: '../../etc/passwd' }), 400],
    [
      'an oversized body',
      {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ code: 'a'.repeat(20_000) }),
      },
      413,
    ],
  ])('answers a handoff with %s with a problem, not a 500', async (_name, init, status) => {
    const frame = h.client();
    await askPopup(frame);
    expectProblem(await frame.request('POST', '/auth/handoff', { csrf: true, ...init }), status);
  });

  it.each([
    ['a returnTo off the site', { returnTo: 'https://evil.example/' }, 400],
    ['a body that is not an object', [1], 400],
  ])('answers POST /auth/popup with %s with 400', async (_name, body, status) => {
    expectProblem(await h.client().request('POST', '/auth/popup', json(body)), status);
  });

  it('answers other methods with 405 and Allow', async () => {
    for (const path of ['/auth/popup', '/auth/handoff']) {
      const res = await h.client().get(path);
      expectProblem(res, 405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('serves the popup script from its own origin, no store', async () => {
    const res = await h.client().get('/auth/popup-return.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.text).toContain('postMessage');
    expect(res.text).toContain('main.dataset.origin');
  });
});

describe('popup login without EMBED_ORIGINS', () => {
  const h = useHarness();

  it('is not there: /auth/popup and /auth/handoff are unknown routes', async () => {
    for (const path of ['/auth/popup', '/auth/handoff']) {
      expectProblem(await h.client().request('POST', path, { csrf: true }), 404);
    }
    expectProblem(await h.client().get('/auth/popup-return.js'), 404);
  });

  it('ignores a popup parameter: the login is the normal one', async () => {
    const res = await h.client().get('/auth/login?popup=whatever');
    expect(res.status).toBe(302);
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
  });
});

describe('popup tickets sealed with the gateway key but not tickets', () => {
  const h = useHarness({ env: EMBEDDED });

  it.each([['null'], ['42'], ['"text"'], ['[]'], ['{"b":1,"r":"/","t":0}']])(
    'answer a popup login with the ticket %s with 400, not 500',
    async (plain) => {
      const vault = createTokenVault(h.config.tokenEncryptionKeys);
      const res = await h.client().get(`/auth/login?popup=${vault.seal(plain)}`, {
        headers: { Accept: 'application/json' },
      });
      expectProblem(res, 400);
      expect(h.logs.some((l) => l.includes('"level":50'))).toBe(false);
    },
  );
});
