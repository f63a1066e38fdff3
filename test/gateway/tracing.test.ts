import net from 'node:net';
import http from 'node:http';
import { AGENT_USER, type RecordedRequest } from '../../emulator/genesys-emulator';
import { setAccessTokenLifetime, useHarness, type Harness } from '../support/gateway-harness';
import type { BrowserClient } from '../support/browser-client';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_PARENT_ID}-01`;
const TRACESTATE = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';
const OUTGOING = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

interface Sent {
  readonly traceId: string;
  readonly parentId: string;
  readonly flags: string;
}

/** The traceparent one recorded call carried, split; fails the test when it is missing or malformed. */
function sentBy(call: RecordedRequest | undefined): Sent {
  const match = OUTGOING.exec(call?.traceparent ?? '');
  if (match === null)
    throw new Error(`no valid traceparent on ${call?.operation}: ${call?.traceparent}`);
  const [, traceId = '', parentId = '', flags = ''] = match;
  return { traceId, parentId, flags };
}

function lines(h: Harness): Record<string, unknown>[] {
  return h.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The access line of the request that X-Request-Id `id` names. */
function accessLineOf(h: Harness, id: string | null): Record<string, unknown> | undefined {
  return lines(h).find((l) => l.msg === 'request' && l.requestId === id);
}

/** Logs in with `headers` on the callback, the request that makes the token exchange and users/me. */
async function loginWith(h: Harness, headers: Record<string, string>): Promise<BrowserClient> {
  const browser = h.client();
  h.emulator.autoApprove(AGENT_USER.id);
  const start = await browser.get('/auth/login');
  const authorize = await browser.get(start.location ?? '');
  const callback = await browser.get(authorize.location ?? '', { headers });
  expect(callback.status).toBe(302);
  return browser;
}

describe('W3C trace context to Genesys', () => {
  const h = useHarness();

  describe('with a valid traceparent from the caller', () => {
    it('a proxied call carries its trace id and flags with a parent-id of its own, and its tracestate', async () => {
      const browser = await h.login(AGENT_USER);
      h.emulator.clearRequests();
      const res = await browser.get('/session', {
        csrf: true,
        headers: { traceparent: TRACEPARENT, tracestate: TRACESTATE },
      });
      expect(res.status).toBe(200);
      const [call] = h.emulator.requestsFor('getTokensMe');
      const sent = sentBy(call);
      expect(sent.traceId).toBe(TRACE_ID);
      expect(sent.flags).toBe('01');
      expect(sent.parentId).not.toBe(CALLER_PARENT_ID);
      expect(call?.tracestate).toBe(TRACESTATE);
      // The request id still goes as before, beside the trace.
      expect(call?.headers['inin-correlation-id']).toBe(res.headers.get('x-request-id'));
    });

    it('the token exchange and the user lookup of a login carry it, each with its own parent-id', async () => {
      await loginWith(h, { traceparent: TRACEPARENT, tracestate: TRACESTATE });
      const calls = [h.emulator.requestsFor('token')[0], h.emulator.requestsFor('getUsersMe')[0]];
      const sent = calls.map(sentBy);
      expect(sent.map((s) => s.traceId)).toEqual([TRACE_ID, TRACE_ID]);
      expect(sent.map((s) => s.flags)).toEqual(['01', '01']);
      expect(new Set([CALLER_PARENT_ID, ...sent.map((s) => s.parentId)]).size).toBe(3);
      expect(calls.map((c) => c?.tracestate)).toEqual([TRACESTATE, TRACESTATE]);
    });

    it('a refresh and the proxied call after it share the trace, each with its own parent-id', async () => {
      setAccessTokenLifetime(h, 300);
      const browser = await h.login(AGENT_USER);
      h.emulator.clearRequests();
      // Expiry in reach: this call refreshes first.
      h.emulator.advance(280_000);
      const res = await browser.get('/session', {
        csrf: true,
        headers: { traceparent: TRACEPARENT },
      });
      expect(res.status).toBe(200);
      const refresh = h.emulator.requestsFor('token');
      expect(refresh.map((r) => new URLSearchParams(r.body).get('grant_type'))).toEqual([
        'refresh_token',
      ]);
      const sent = [refresh[0], h.emulator.requestsFor('getTokensMe')[0]].map(sentBy);
      expect(sent.map((s) => s.traceId)).toEqual([TRACE_ID, TRACE_ID]);
      expect(sent[0]?.parentId).not.toBe(sent[1]?.parentId);
    });

    it('the revoke of a logout carries it', async () => {
      const browser = await h.login(AGENT_USER);
      h.emulator.clearRequests();
      const res = await browser.request('DELETE', '/session', {
        csrf: true,
        headers: { traceparent: TRACEPARENT },
      });
      expect(res.status).toBe(204);
      expect(sentBy(h.emulator.requestsFor('deleteTokensMe')[0]).traceId).toBe(TRACE_ID);
    });

    it('the access line names the trace id beside the request id', async () => {
      const browser = await h.login(AGENT_USER);
      const res = await browser.get('/session', {
        csrf: true,
        headers: { traceparent: TRACEPARENT },
      });
      expect(accessLineOf(h, res.headers.get('x-request-id'))).toMatchObject({
        traceId: TRACE_ID,
        status: 200,
      });
    });

    it("a 5xx's warning line names the trace id", async () => {
      const browser = await h.login(AGENT_USER);
      h.emulator.fault({ operation: 'getTokensMe', times: 1 }, { reset: true });
      const res = await browser.get('/session', {
        csrf: true,
        headers: { traceparent: TRACEPARENT },
      });
      expect(res.status).toBe(502);
      const id = res.headers.get('x-request-id');
      const warning = lines(h).find((l) => l.level === 'warn' && l.requestId === id);
      expect(warning).toMatchObject({ traceId: TRACE_ID, status: 502 });
      expect(accessLineOf(h, id)).toMatchObject({ traceId: TRACE_ID, status: 502 });
    });

    it('answers without traceparent or traceresponse: X-Request-Id stays the handle to quote', async () => {
      const browser = await h.login(AGENT_USER);
      const res = await browser.get('/session', {
        csrf: true,
        headers: { traceparent: TRACEPARENT },
      });
      expect(res.headers.get('traceparent')).toBeNull();
      expect(res.headers.get('traceresponse')).toBeNull();
      expect(res.headers.get('tracestate')).toBeNull();
      expect(res.headers.get('x-request-id')).not.toBeNull();
    });
  });

  describe('without a traceparent', () => {
    it('each request starts a trace of its own, unsampled, that all its calls share', async () => {
      setAccessTokenLifetime(h, 300);
      await loginWith(h, {});
      const login = [h.emulator.requestsFor('token')[0], h.emulator.requestsFor('getUsersMe')[0]];
      const [exchange, lookup] = login.map(sentBy);
      expect(exchange?.traceId).toBe(lookup?.traceId);
      expect(exchange?.parentId).not.toBe(lookup?.parentId);
      expect([exchange?.flags, lookup?.flags]).toEqual(['00', '00']);
      expect(login.map((c) => c?.tracestate)).toEqual([undefined, undefined]);
      const callbackLine = lines(h).find((l) => l.msg === 'request' && l.path === '/auth/callback');
      expect(callbackLine?.traceId).toBe(exchange?.traceId);
    });

    it('two requests are two traces', async () => {
      const browser = await h.login(AGENT_USER);
      h.emulator.clearRequests();
      await browser.get('/session', { csrf: true });
      await browser.get('/session', { csrf: true });
      const [first, second] = h.emulator.requestsFor('getTokensMe').map(sentBy);
      expect(first?.traceId).not.toBe(second?.traceId);
    });
  });

  describe('with an invalid traceparent', () => {
    it.each([
      ['version ff', `ff-${TRACE_ID}-${CALLER_PARENT_ID}-01`],
      ['an all-zero trace id', `00-${'0'.repeat(32)}-${CALLER_PARENT_ID}-01`],
      ['an all-zero parent-id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
      ['bad hex', `00-${TRACE_ID.slice(0, 31)}x-${CALLER_PARENT_ID}-01`],
      ['a wrong length', `00-${TRACE_ID}0-${CALLER_PARENT_ID}-01`],
      ['uppercase hex', `00-${TRACE_ID.toUpperCase()}-${CALLER_PARENT_ID.toUpperCase()}-01`],
      ['version 00 with a field more', `${TRACEPARENT}-extra`],
    ])('with %s, starts a new trace and drops the tracestate', async (_name, traceparent) => {
      const browser = await h.login(AGENT_USER);
      h.emulator.clearRequests();
      const res = await browser.get('/session', {
        csrf: true,
        headers: { traceparent, tracestate: TRACESTATE },
      });
      expect(res.status).toBe(200);
      const [call] = h.emulator.requestsFor('getTokensMe');
      const sent = sentBy(call);
      expect(sent.traceId).not.toBe(TRACE_ID);
      expect(sent.traceId).not.toBe('0'.repeat(32));
      expect(sent.flags).toBe('00');
      expect(call?.tracestate).toBeUndefined();
      expect(accessLineOf(h, res.headers.get('x-request-id'))?.traceId).toBe(sent.traceId);
    });

    it('two traceparent headers are no valid one', async () => {
      const browser = await h.login(AGENT_USER);
      h.emulator.clearRequests();
      const cookie = browser.cookies.get(h.config.session.cookieName)?.value ?? '';
      const status = await rawRequest(h, [
        `Cookie: ${h.config.session.cookieName}=${cookie}`,
        'X-CSRF: 1',
        `traceparent: ${TRACEPARENT}`,
        `traceparent: 00-${'1'.repeat(32)}-${CALLER_PARENT_ID}-01`,
      ]);
      expect(status).toBe(200);
      const sent = sentBy(h.emulator.requestsFor('getTokensMe')[0]);
      expect([TRACE_ID, '1'.repeat(32)]).not.toContain(sent.traceId);
    });
  });

  describe('attacks through tracestate', () => {
    let browser: BrowserClient;
    let cookie: string;

    beforeEach(async () => {
      browser = await h.login(AGENT_USER);
      cookie = `${h.config.session.cookieName}=${browser.cookies.get(h.config.session.cookieName)?.value ?? ''}`;
      h.emulator.clearRequests();
    });

    it('a CR LF in tracestate does not smuggle a header to Genesys', async () => {
      // Written on the socket: Node's client refuses to send a CR LF in a header value.
      const status = await rawRequest(h, [
        `Cookie: ${cookie}`,
        'X-CSRF: 1',
        `traceparent: ${TRACEPARENT}`,
        'tracestate: rojo=1\r\nX-Injected: yes',
      ]);
      expect(status).toBe(200);
      const [call] = h.emulator.requestsFor('getTokensMe');
      expect(call?.headers['x-injected']).toBeUndefined();
      expect(call?.tracestate).toBe('rojo=1');
      expect(sentBy(call).traceId).toBe(TRACE_ID);
    });

    it.each([
      ['a tab', 'rojo=a\tb'],
      ['a Latin-1 byte', 'rojo=caf\u00e9'],
      ['a header-looking value', 'rojo=1, x-injected: yes'],
      ['a key twice', 'rojo=1,rojo=2'],
    ])('a tracestate holding %s is dropped whole, the trace kept', async (_name, tracestate) => {
      const status = await nodeRequest(h, {
        Cookie: cookie,
        'X-CSRF': '1',
        traceparent: TRACEPARENT,
        tracestate,
      });
      expect(status).toBe(200);
      const [call] = h.emulator.requestsFor('getTokensMe');
      expect(call?.tracestate).toBeUndefined();
      expect(call?.headers['x-injected']).toBeUndefined();
      expect(sentBy(call).traceId).toBe(TRACE_ID);
    });

    it('a long tracestate reaches Genesys cut to at most 512 characters, whole entries only', async () => {
      const members = Array.from({ length: 30 }, (_, i) => `vendor${i}=${'v'.repeat(40)}`);
      const res = await browser.get('/session', {
        csrf: true,
        headers: { traceparent: TRACEPARENT, tracestate: members.join(',') },
      });
      expect(res.status).toBe(200);
      const passed = h.emulator.requestsFor('getTokensMe')[0]?.tracestate ?? '';
      expect(passed.length).toBeGreaterThan(0);
      expect(passed.length).toBeLessThanOrEqual(512);
      expect(members.join(',').startsWith(`${passed},`)).toBe(true);
    });
  });
});

/** GET /session with `headers` written as they are on a socket of its own; resolves with the status. */
function rawRequest(h: Harness, headers: string[]): Promise<number> {
  const { port } = new URL(h.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    socket.write(
      [
        'GET /session HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        ...headers,
        'Connection: close',
        '',
        '',
      ].join('\r\n'),
    );
  });
}

/** GET /session through node:http, which sends tabs and Latin-1 in a header as they are. */
function nodeRequest(h: Harness, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${h.url}/session`, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}
