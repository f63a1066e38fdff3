import { setTimeout as delay } from 'node:timers/promises';
import type { SessionKind, SessionRef } from './fuzz-cases';
import { Connection, header, serialize, type RawResponse } from './raw-http';
import type { Rng } from './rng';

/**
 * The raw-socket cases of `npm run fuzz`, each on a connection of its own: request smuggling
 * (CL+TE, TE+CL with obfuscated Transfer-Encoding, two Content-Lengths, invalid ones), an answer
 * after `Connection: close`, pipelining, slow headers and bodies, half-closed and reset sockets,
 * and malformed framing. Every smuggled request carries `X-Request-Id: smuggled-…`: an answer
 * bearing it is a desync (one front end would see one request where the gateway saw two).
 */

export interface RawContext {
  readonly port: number;
  readonly seed: number;
  session(kind: SessionKind, rng: Rng): SessionRef | undefined;
  /** The checks every answer gets (5xx, secrets, stacks); `sent` is the request's bytes. */
  check(res: RawResponse, sent: Buffer, label: string): void;
  fail(kind: string, label: string, detail: string, sent: Buffer, res?: RawResponse): void;
  /** One outcome of a raw case for the histogram: a status or `closed`, `timeout`. */
  count(label: string, outcome: string): void;
}

export interface RawCase {
  readonly name: string;
  run(ctx: RawContext, rng: Rng, id: string): Promise<void>;
}

/** Time a desync has to show itself once the first answer is in (loopback, a busy gateway). */
const SETTLE_MS = 500;
const ANSWER_MS = 10_000;

function smuggledRequest(id: string): string {
  return `GET /harness-smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\n\r\n`;
}

/** Opens, writes `pieces` (with `gapMs` between them), optionally half-closes or resets. */
async function exchange(
  ctx: RawContext,
  pieces: readonly Buffer[],
  methods: readonly string[],
  options: { gapMs?: number; fin?: boolean; rst?: boolean } = {},
): Promise<Connection> {
  const conn = await Connection.open(ctx.port);
  for (let i = 0; i < pieces.length; i += 1) {
    if (conn.closed) break;
    conn.write(pieces[i] as Buffer, i === 0 ? methods : []);
    if (options.gapMs !== undefined && i < pieces.length - 1) await delay(options.gapMs);
  }
  if (options.fin) conn.end();
  if (options.rst) conn.socket.resetAndDestroy();
  return conn;
}

/**
 * Every answer of `conn` checked and counted; an answer to a smuggled request is a desync.
 * `hung`: the gateway had neither answered nor closed when the case gave up on it.
 */
function review(
  ctx: RawContext,
  conn: Connection,
  sent: Buffer,
  label: string,
  maxAnswers: number,
  hung = false,
): void {
  const all = [...conn.responses, ...conn.extra];
  if (all.length === 0) ctx.count(label, hung ? 'hung' : 'closed');
  if (hung) {
    ctx.fail('hung', label, `neither answered nor closed within ${ANSWER_MS / 1000} s`, sent);
  }
  for (const res of all) {
    ctx.count(label, String(res.status));
    ctx.check(res, sent, label);
    const id = header(res, 'x-request-id') ?? '';
    if (id.startsWith('smuggled-')) {
      ctx.fail('desync', label, 'the smuggled request was answered', sent, res);
    }
  }
  if (all.length > maxAnswers) {
    ctx.fail(
      'desync',
      label,
      `${all.length} answers to ${maxAnswers} request(s)`,
      sent,
      all[maxAnswers],
    );
  }
  if (conn.parseError !== undefined) {
    ctx.fail('garbled answer', label, conn.parseError, sent);
  }
}

/**
 * Waits for the answers (or the close), then SETTLE_MS more for anything that follows. True
 * when the gateway neither answered nor closed the connection in that time.
 */
async function settle(conn: Connection, want = 1): Promise<boolean> {
  await conn.until(want, ANSWER_MS);
  if (!conn.closed) await conn.untilClosed(SETTLE_MS);
  const hung = conn.responses.length + conn.extra.length === 0 && !conn.closed;
  conn.destroy();
  return hung;
}

/** Transfer-Encoding as a hostile client writes it: obfuscated, doubled, folded. */
const TE_VARIANTS: readonly (readonly [string, string])[] = [
  ['Transfer-Encoding: chunked', 'te'],
  ['Transfer-Encoding:  chunked ', 'te-spaces'],
  ['Transfer-Encoding: xchunked', 'te-xchunked'],
  ['Transfer-Encoding: chunked, identity', 'te-chunked-identity'],
  ['Transfer-Encoding: identity, chunked', 'te-identity-chunked'],
  ['Transfer-Encoding: CHUNKED', 'te-upper'],
  ['Transfer-Encoding:\tchunked', 'te-tab'],
  ['Transfer-Encoding : chunked', 'te-space-before-colon'],
  ['Transfer_Encoding: chunked', 'te-underscore'],
  ['Transfer-Encoding: "chunked"', 'te-quoted'],
  ['Transfer-Encoding: chunked\r\nTransfer-Encoding: identity', 'te-twice'],
  ['Transfer-Encoding: identity\r\nTransfer-Encoding: chunked', 'te-twice-reversed'],
  ['Transfer-Encoding: x\r\n chunked', 'te-obs-fold'],
  ['Transfer-Encoding: chunk', 'te-chunk'],
  ['Transfer-Encoding: \x0bchunked', 'te-vtab'],
  ['Transfer-Encoding: chunked\x00', 'te-nul'],
];

/** Outer requests the smuggled one hides behind. */
function outerHead(ctx: RawContext, rng: Rng, id: string): { head: string; method: string } {
  const admin = ctx.session('admin', rng);
  const agent = ctx.session('agent', rng);
  const host = `Host: 127.0.0.1:${ctx.port}\r\nX-Request-Id: ${id}\r\nX-CSRF: 1\r\n`;
  return rng.pick([
    { head: `POST /session HTTP/1.1\r\n${host}Content-Type: application/json\r\n`, method: 'POST' },
    {
      head: `GET /session HTTP/1.1\r\n${host}${agent ? `Cookie: ${agent.cookie}\r\n` : ''}`,
      method: 'GET',
    },
    {
      head: `PUT /admin/tokens/timeout HTTP/1.1\r\n${host}${admin ? `Cookie: ${admin.cookie}\r\n` : ''}Content-Type: application/json\r\n`,
      method: 'PUT',
    },
    { head: `DELETE /session HTTP/1.1\r\n${host}`, method: 'DELETE' },
  ]);
}

function smugglingCases(): RawCase[] {
  const cases: RawCase[] = [];
  for (const [te, tag] of TE_VARIANTS) {
    // CL.TE: Content-Length covers everything; chunked ends early, before the smuggled request.
    cases.push({
      name: `smuggle-cl-te-${tag}`,
      async run(ctx, rng, id) {
        const outer = outerHead(ctx, rng, id);
        const body = `0\r\n\r\n${smuggledRequest(`smuggled-${id}`)}`;
        const sent = Buffer.from(
          `${outer.head}Content-Length: ${body.length}\r\n${te}\r\n\r\n${body}`,
          'latin1',
        );
        const conn = await exchange(ctx, [sent], [outer.method]);
        review(ctx, conn, sent, this.name, 1, await settle(conn));
      },
    });
    // TE.CL: chunked carries the smuggled request as chunk data; Content-Length stops before it.
    // `Transfer_Encoding` is no Transfer-Encoding at all: there Content-Length rightly frames the
    // request and what follows is the next one, so only CL.TE tests it.
    if (tag === 'te-underscore') continue;
    cases.push({
      name: `smuggle-te-cl-${tag}`,
      async run(ctx, rng, id) {
        const outer = outerHead(ctx, rng, id);
        const smuggled = smuggledRequest(`smuggled-${id}`);
        const size = `${smuggled.length.toString(16)}\r\n`;
        const body = `${size}${smuggled}\r\n0\r\n\r\n`;
        const sent = Buffer.from(
          `${outer.head}${te}\r\nContent-Length: ${size.length}\r\n\r\n${body}`,
          'latin1',
        );
        const conn = await exchange(ctx, [sent], [outer.method]);
        review(ctx, conn, sent, this.name, 1, await settle(conn));
      },
    });
  }
  const lengths: readonly (readonly [string, string])[] = [
    ['Content-Length: 5\r\nContent-Length: {all}', 'cl-twice-short-first'],
    ['Content-Length: {all}\r\nContent-Length: 5', 'cl-twice-long-first'],
    ['Content-Length: 5, {all}', 'cl-list'],
    ['Content-Length: +5', 'cl-plus'],
    ['Content-Length: 0x5', 'cl-hex'],
    ['Content-Length: 5\x00', 'cl-nul'],
    ['Content-Length : 5', 'cl-space-before-colon'],
    ['Content-Length: -5', 'cl-negative'],
    ['Content-Length: 5.0', 'cl-decimal'],
    ['Content-Length: 99999999999999999999', 'cl-overflow'],
    ['Content-Length: 5\r\n Content-Length: 0', 'cl-obs-fold'],
  ];
  for (const [cl, tag] of lengths) {
    cases.push({
      name: `smuggle-${tag}`,
      async run(ctx, rng, id) {
        const outer = outerHead(ctx, rng, id);
        const body = `AAAAA${smuggledRequest(`smuggled-${id}`)}`;
        const sent = Buffer.from(
          `${outer.head}${cl.replace('{all}', String(body.length))}\r\n\r\n${body}`,
          'latin1',
        );
        const conn = await exchange(ctx, [sent], [outer.method]);
        review(ctx, conn, sent, this.name, 1, await settle(conn));
      },
    });
  }
  cases.push({
    name: 'after-connection-close',
    async run(ctx, _rng, id) {
      // An answer to anything after `Connection: close` would be a second request on a
      // connection the client said was done.
      const sent = Buffer.from(
        `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n${smuggledRequest(`smuggled-${id}`)}`,
        'latin1',
      );
      const conn = await exchange(ctx, [sent], ['GET']);
      review(ctx, conn, sent, this.name, 1, await settle(conn));
    },
  });
  cases.push({
    name: 'smuggle-in-discarded-body',
    async run(ctx, rng, id) {
      // GET /session reads and drops a body: what it holds must never run as a request.
      const agent = ctx.session('agent', rng);
      const body = smuggledRequest(`smuggled-${id}`);
      const sent = Buffer.from(
        `GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\nX-CSRF: 1\r\n${agent ? `Cookie: ${agent.cookie}\r\n` : ''}Content-Length: ${body.length}\r\n\r\n${body}`,
        'latin1',
      );
      const conn = await exchange(ctx, [sent], ['GET']);
      review(ctx, conn, sent, this.name, 1, await settle(conn));
    },
  });
  cases.push({
    name: 'smuggle-in-oversized-body',
    async run(ctx, rng, id) {
      // Refused for its size (413) before it is read: its bytes must still not become a request.
      const admin = ctx.session('admin', rng);
      const body = `${smuggledRequest(`smuggled-${id}`)}${' '.repeat(20_000)}`;
      const follow = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}-2\r\n\r\n`;
      const sent = Buffer.from(
        `PUT /admin/tokens/timeout HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\nX-CSRF: 1\r\n${admin ? `Cookie: ${admin.cookie}\r\n` : ''}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}${follow}`,
        'latin1',
      );
      const conn = await exchange(ctx, [sent], ['PUT', 'GET']);
      review(ctx, conn, sent, this.name, 2, await settle(conn, 2));
    },
  });
  return cases;
}

/** K requests in one write (or cut at random bytes): K answers, in order, nothing else. */
function pipelineCase(name: string, split: boolean): RawCase {
  return {
    name,
    async run(ctx, rng, id) {
      const k = rng.range(2, 8);
      const parts: Buffer[] = [];
      const methods: string[] = [];
      const ids: string[] = [];
      for (let i = 0; i < k; i += 1) {
        const rid = `${id}-p${i}`;
        ids.push(rid);
        const agent = ctx.session('agent', rng);
        const admin = ctx.session('admin', rng);
        const base: [string, string][] = [
          ['Host', `127.0.0.1:${ctx.port}`],
          ['X-Request-Id', rid],
          ['X-CSRF', '1'],
        ];
        const pick = rng.int(9);
        const req =
          pick === 0
            ? { method: 'GET', target: '/healthz', headers: base }
            : pick === 1
              ? {
                  method: 'GET',
                  target: '/session',
                  headers: [...base, ['Cookie', agent?.cookie ?? 'x=y'] as [string, string]],
                }
              : pick === 2
                ? {
                    method: 'HEAD',
                    target: '/session',
                    headers: [...base, ['Cookie', agent?.cookie ?? 'x=y'] as [string, string]],
                  }
                : pick === 3
                  ? { method: 'GET', target: '/nope', headers: base }
                  : pick === 4
                    ? {
                        method: 'PUT',
                        target: '/admin/tokens/timeout',
                        headers: [
                          ...base,
                          ['Cookie', admin?.cookie ?? 'x=y'],
                          ['Content-Type', 'application/json'],
                        ] as [string, string][],
                        body: Buffer.from(
                          JSON.stringify({
                            idleTokenTimeoutSeconds: rng.range(300, 28_800),
                            enableIdleTokenTimeout: false,
                          }),
                        ),
                      }
                    : pick === 5
                      ? {
                          method: 'GET',
                          target: '/admin/tokens/timeout',
                          headers: [
                            ...base,
                            ['Cookie', admin?.cookie ?? 'x=y'] as [string, string],
                          ],
                        }
                      : pick === 6
                        ? {
                            method: 'DELETE',
                            target: '/admin/users/%ZZ/tokens',
                            headers: [
                              ...base,
                              ['Cookie', admin?.cookie ?? 'x=y'] as [string, string],
                            ],
                          }
                        : pick === 7
                          ? {
                              method: 'GET',
                              target: '/session',
                              headers: [...base, ['Content-Encoding', 'gzip']] as [
                                string,
                                string,
                              ][],
                              body: Buffer.from('not gzip at all'),
                            }
                          : {
                              method: 'GET',
                              target: '/session?preserveIdleTTL=true',
                              headers: [
                                ...base,
                                ['Cookie', agent?.cookie ?? 'x=y'] as [string, string],
                              ],
                            };
        parts.push(serialize(req));
        methods.push(req.method);
      }
      const all = Buffer.concat(parts);
      let pieces: Buffer[] = [all];
      if (split) {
        pieces = [];
        let at = 0;
        while (at < all.length) {
          const size = rng.range(1, 200);
          pieces.push(all.subarray(at, at + size));
          at += size;
        }
      }
      const conn = await exchange(ctx, pieces, methods, split ? { gapMs: 1 } : {});
      review(ctx, conn, all, name, k, await settle(conn, k));
      const got = conn.responses.map((r) => header(r, 'x-request-id') ?? '');
      for (let i = 0; i < got.length; i += 1) {
        if (got[i] !== ids[i]) {
          ctx.fail(
            'desync',
            name,
            `answer ${i + 1} is for ${JSON.stringify(got[i])}, expected ${ids[i]}`,
            all,
            conn.responses[i],
          );
          return;
        }
      }
      const last = conn.responses[conn.responses.length - 1];
      if (
        conn.responses.length < k &&
        !/close/i.test(last ? (header(last, 'connection') ?? '') : '')
      ) {
        ctx.fail(
          'dropped',
          name,
          `${conn.responses.length} answers to ${k} pipelined requests, and no Connection: close`,
          all,
          last,
        );
      }
    },
  };
}

/** A valid request written a few bytes at a time: it must be answered, like any other. */
function trickleCase(name: string, body: boolean): RawCase {
  return {
    name,
    async run(ctx, rng, id) {
      const admin = ctx.session('admin', rng);
      const agent = ctx.session('agent', rng);
      const req = body
        ? {
            method: 'PUT',
            target: '/admin/tokens/timeout',
            headers: [
              ['Host', `127.0.0.1:${ctx.port}`],
              ['X-Request-Id', id],
              ['X-CSRF', '1'],
              ['Cookie', admin?.cookie ?? 'x=y'],
              ['Content-Type', 'application/json'],
            ] as [string, string][],
            body: Buffer.from(
              JSON.stringify({
                idleTokenTimeoutSeconds: 1800,
                enableIdleTokenTimeout: false,
                inactivityTimeoutUnit: 'Minutes',
              }),
            ),
          }
        : {
            method: 'GET',
            target: '/session',
            headers: [
              ['Host', `127.0.0.1:${ctx.port}`],
              ['X-Request-Id', id],
              ['X-CSRF', '1'],
              ['Cookie', agent?.cookie ?? 'x=y'],
            ] as [string, string][],
          };
      const sent = serialize(req);
      // Headers in a hurry, the body slowly; or the headers slowly. About 2 s either way.
      const head = sent.indexOf('\r\n\r\n') + 4;
      const pieces: Buffer[] = [];
      if (body) {
        pieces.push(sent.subarray(0, head));
        for (let at = head; at < sent.length; at += 4) pieces.push(sent.subarray(at, at + 4));
      } else {
        for (let at = 0; at < sent.length; at += 12) pieces.push(sent.subarray(at, at + 12));
      }
      const gapMs = Math.max(5, Math.floor(2000 / pieces.length));
      const conn = await exchange(ctx, pieces, [req.method], { gapMs });
      const wait = await conn.until(1, ANSWER_MS);
      conn.destroy();
      review(ctx, conn, sent, name, 1);
      if (wait !== 'ok')
        ctx.fail('dropped', name, `a slow but valid request got no answer (${wait})`, sent);
    },
  };
}

/** Half-closed and reset sockets: FIN after a request, mid-headers, mid-body; RST in flight. */
function halfCloseCases(): RawCase[] {
  const valid = (ctx: RawContext, rng: Rng, id: string): Buffer => {
    const agent = ctx.session('agent', rng);
    return Buffer.from(
      `GET /session HTTP/1.1\r\nHost: 127.0.0.1:${ctx.port}\r\nX-Request-Id: ${id}\r\nX-CSRF: 1\r\n${agent ? `Cookie: ${agent.cookie}\r\n` : ''}\r\n`,
      'latin1',
    );
  };
  return [
    {
      // node's server aborts a request whose client half-closed (httpAllowHalfOpen is off), so
      // an answer or a close are both fine; the request must not stay in flight (the run's
      // shutdown check sees that).
      name: 'fin-after-request',
      async run(ctx, rng, id) {
        const sent = valid(ctx, rng, id);
        const conn = await exchange(ctx, [sent], ['GET'], { fin: true });
        const wait = await conn.until(1, ANSWER_MS);
        conn.destroy();
        review(ctx, conn, sent, this.name, 1, wait === 'timeout');
      },
    },
    {
      name: 'fin-mid-headers',
      async run(ctx, rng, id) {
        const sent = valid(ctx, rng, id).subarray(0, 30);
        const conn = await exchange(ctx, [sent], ['GET'], { fin: true });
        const hung = (await conn.untilClosed(ANSWER_MS)) === 'timeout';
        conn.destroy();
        review(ctx, conn, sent, this.name, 1, hung && conn.responses.length === 0);
      },
    },
    {
      name: 'fin-mid-body',
      async run(ctx, rng, id) {
        const admin = ctx.session('admin', rng);
        const sent = Buffer.from(
          `PUT /admin/tokens/timeout HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\nX-CSRF: 1\r\n${admin ? `Cookie: ${admin.cookie}\r\n` : ''}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"idleTok`,
          'latin1',
        );
        const conn = await exchange(ctx, [sent], ['PUT'], { fin: true });
        const hung = (await conn.untilClosed(ANSWER_MS)) === 'timeout';
        conn.destroy();
        review(ctx, conn, sent, this.name, 1, hung && conn.responses.length === 0);
      },
    },
    {
      name: 'fin-only',
      async run(ctx) {
        const conn = await exchange(ctx, [], [], { fin: true });
        const hung = (await conn.untilClosed(ANSWER_MS)) === 'timeout';
        conn.destroy();
        review(ctx, conn, Buffer.alloc(0), this.name, 0, hung);
      },
    },
    {
      name: 'rst-in-flight',
      async run(ctx, rng, id) {
        // Reset while the gateway waits on Genesys: it must drop the answer quietly.
        const sent = valid(ctx, rng, id);
        const conn = await exchange(ctx, [sent], ['GET']);
        await delay(rng.range(0, 3));
        conn.socket.resetAndDestroy();
        ctx.count(this.name, 'reset');
      },
    },
    {
      name: 'rst-mid-body',
      async run(ctx, rng, id) {
        const admin = ctx.session('admin', rng);
        const sent = Buffer.from(
          `PUT /admin/tokens/timeout HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\nX-CSRF: 1\r\n${admin ? `Cookie: ${admin.cookie}\r\n` : ''}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"idle`,
          'latin1',
        );
        const conn = await exchange(ctx, [sent], ['PUT']);
        await delay(20);
        conn.socket.resetAndDestroy();
        ctx.count(this.name, 'reset');
      },
    },
  ];
}

/** Framing and syntax node's parser must refuse cleanly: at most one answer, never a 5xx. */
function malformedCases(): RawCase[] {
  const raw = (
    name: string,
    text: (ctx: RawContext, id: string) => string,
    method = 'GET',
    answers = 1,
  ): RawCase => ({
    name,
    async run(ctx, _rng, id) {
      const sent = Buffer.from(text(ctx, id), 'latin1');
      const conn = await exchange(ctx, [sent], [method]);
      review(ctx, conn, sent, name, answers, await settle(conn));
    },
  });
  const h = (ctx: RawContext, id: string): string =>
    `Host: 127.0.0.1:${ctx.port}\r\nX-Request-Id: ${id}\r\n`;
  return [
    raw('http09', () => 'GET /healthz\r\n\r\n'),
    raw('h2-preface', () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    raw(
      'bare-lf',
      (ctx, id) => `GET /healthz HTTP/1.1\nHost: 127.0.0.1:${ctx.port}\nX-Request-Id: ${id}\n\n`,
    ),
    raw(
      'bare-cr',
      (ctx, id) => `GET /healthz HTTP/1.1\rHost: 127.0.0.1:${ctx.port}\rX-Request-Id: ${id}\r\r`,
    ),
    raw('nul-in-header', (ctx, id) => `GET /healthz HTTP/1.1\r\n${h(ctx, id)}X-A: a\x00b\r\n\r\n`),
    raw('no-colon', (ctx, id) => `GET /healthz HTTP/1.1\r\n${h(ctx, id)}NoColonHere\r\n\r\n`),
    raw('space-in-name', (ctx, id) => `GET /healthz HTTP/1.1\r\n${h(ctx, id)}Bad Name: x\r\n\r\n`),
    raw('leading-space-header', (ctx, id) => `GET /healthz HTTP/1.1\r\n ${h(ctx, id)}\r\n`),
    raw(
      'long-request-line',
      (ctx, id) => `GET /${'a'.repeat(100_000)} HTTP/1.1\r\n${h(ctx, id)}\r\n`,
    ),
    raw(
      'chunk-size-junk',
      (ctx, id) =>
        `POST /session HTTP/1.1\r\n${h(ctx, id)}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
      'POST',
    ),
    raw(
      'chunk-size-overflow',
      (ctx, id) =>
        `POST /session HTTP/1.1\r\n${h(ctx, id)}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n`,
      'POST',
    ),
    raw(
      'chunk-extension-huge',
      (ctx, id) =>
        `POST /session HTTP/1.1\r\n${h(ctx, id)}X-CSRF: 1\r\nTransfer-Encoding: chunked\r\n\r\n3;${'e'.repeat(20_000)}\r\nabc\r\n0\r\n\r\n`,
      'POST',
    ),
    raw(
      'chunk-no-crlf',
      (ctx, id) =>
        `POST /session HTTP/1.1\r\n${h(ctx, id)}X-CSRF: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n`,
      'POST',
    ),
    raw(
      'chunk-trailers',
      (ctx, id) =>
        `DELETE /session HTTP/1.1\r\n${h(ctx, id)}X-CSRF: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 50\r\nX-CSRF: 0\r\n\r\n`,
      'DELETE',
    ),
    raw('bad-version', (ctx, id) => `GET /healthz HTTP/1.x\r\n${h(ctx, id)}\r\n`),
    raw(
      'absolute-form-other-host',
      (_ctx, id) =>
        `GET http://evil.example/healthz HTTP/1.1\r\nHost: evil.example\r\nX-Request-Id: ${id}\r\n\r\n`,
    ),
    raw('asterisk-options', (ctx, id) => `OPTIONS * HTTP/1.1\r\n${h(ctx, id)}\r\n`, 'OPTIONS'),
    raw(
      'connect',
      (ctx, id) => `CONNECT 127.0.0.1:${ctx.port} HTTP/1.1\r\n${h(ctx, id)}\r\n`,
      'CONNECT',
    ),
    raw(
      'upgrade-websocket',
      (ctx, id) =>
        `GET /session HTTP/1.1\r\n${h(ctx, id)}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    ),
    raw(
      'upgrade-h2c',
      (ctx, id) =>
        `GET /session HTTP/1.1\r\n${h(ctx, id)}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
    ),
    raw(
      'expect-unknown',
      (ctx, id) =>
        `PUT /admin/tokens/timeout HTTP/1.1\r\n${h(ctx, id)}Expect: teapot\r\nContent-Length: 2\r\n\r\n{}`,
      'PUT',
    ),
    raw(
      'many-headers',
      (ctx, id) =>
        `GET /healthz HTTP/1.1\r\n${h(ctx, id)}${Array.from({ length: 5000 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
    ),
    raw(
      'header-over-limit',
      (ctx, id) => `GET /session HTTP/1.1\r\n${h(ctx, id)}Cookie: ${'c'.repeat(20_000)}\r\n\r\n`,
    ),
    raw('cr-in-target', (ctx, id) => `GET /ses\rsion HTTP/1.1\r\n${h(ctx, id)}\r\n`),
    raw('tab-in-target', (ctx, id) => `GET /ses\tsion HTTP/1.1\r\n${h(ctx, id)}\r\n`),
    raw('utf8-in-target', (ctx, id) => `GET /s\xc3\xa9ssion HTTP/1.1\r\n${h(ctx, id)}\r\n`),
    raw('utf8-in-method', (ctx, id) => `G\xc3\x89T /session HTTP/1.1\r\n${h(ctx, id)}\r\n`),
    {
      name: 'expect-100-continue',
      async run(ctx, rng, id) {
        // The body goes only after the 100 Continue, as curl does.
        const admin = ctx.session('admin', rng);
        const body = JSON.stringify({
          idleTokenTimeoutSeconds: 900,
          enableIdleTokenTimeout: false,
        });
        const head = Buffer.from(
          `PUT /admin/tokens/timeout HTTP/1.1\r\nHost: 127.0.0.1:${ctx.port}\r\nX-Request-Id: ${id}\r\nX-CSRF: 1\r\n${admin ? `Cookie: ${admin.cookie}\r\n` : ''}Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`,
          'latin1',
        );
        const conn = await exchange(ctx, [head], ['PUT']);
        const deadline = Date.now() + 3000;
        while (
          conn.interim.length === 0 &&
          conn.responses.length === 0 &&
          !conn.closed &&
          Date.now() < deadline
        ) {
          await delay(10);
        }
        if (conn.responses.length === 0) conn.write(Buffer.from(body));
        const wait = await conn.until(1, ANSWER_MS);
        conn.destroy();
        const sent = Buffer.concat([head, Buffer.from(body)]);
        review(ctx, conn, sent, this.name, 1);
        if (wait !== 'ok')
          ctx.fail('dropped', this.name, `no answer after 100-continue (${wait})`, sent);
      },
    },
  ];
}

/** Every raw case, in a fixed order (the run shuffles it with its seed). */
export function rawCases(): RawCase[] {
  return [
    ...smugglingCases(),
    pipelineCase('pipeline', false),
    pipelineCase('pipeline-split', true),
    trickleCase('slow-headers', false),
    trickleCase('slow-body', true),
    ...halfCloseCases(),
    ...malformedCases(),
  ];
}

export interface SlowlorisReport {
  readonly sockets: number;
  /** Closed by the gateway, with the age at the close (s) and the answer it sent, if any. */
  readonly cut: readonly { readonly afterSeconds: number; readonly status: number | undefined }[];
  readonly stillOpen: number;
  readonly probes: number;
  readonly probeMaxMs: number;
  readonly probeFailures: number;
}

/**
 * Slowloris: `sockets` connections that send a header line every 2 s and never finish, until
 * `done()`; meanwhile a probe on a fresh connection (`GET /healthz`) every second must be
 * answered within 2 s. The gateway is expected to cut them at its headers timeout (20 s, checked
 * by node every 30 s), with a 408 or not at all.
 */
export async function slowloris(
  ctx: RawContext,
  sockets: number,
  done: () => boolean,
): Promise<SlowlorisReport> {
  const conns: Connection[] = [];
  for (let i = 0; i < sockets; i += 1) {
    try {
      const conn = await Connection.open(ctx.port);
      conn.write(
        Buffer.from(
          `GET /session HTTP/1.1\r\nHost: 127.0.0.1:${ctx.port}\r\nX-Request-Id: slowloris-${i}\r\n`,
          'latin1',
        ),
        ['GET'],
      );
      conns.push(conn);
    } catch {
      ctx.fail('refused', 'slowloris', `connection ${i} could not be opened`, Buffer.alloc(0));
    }
  }
  let probes = 0;
  let probeMaxMs = 0;
  let probeFailures = 0;
  let tick = 0;
  while (!done()) {
    await delay(1000);
    tick += 1;
    if (tick % 2 === 0) {
      for (const conn of conns) if (!conn.closed) conn.write(Buffer.from(`X-Slow-${tick}: x\r\n`));
    }
    const t0 = Date.now();
    probes += 1;
    try {
      const probe = await Connection.open(ctx.port, 2000);
      probe.write(
        Buffer.from(
          `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: probe-${probes}\r\n\r\n`,
        ),
        ['GET'],
      );
      const wait = await probe.until(1, 2000);
      probe.destroy();
      if (wait !== 'ok') throw new Error(wait);
      probeMaxMs = Math.max(probeMaxMs, Date.now() - t0);
    } catch {
      probeFailures += 1;
      ctx.fail(
        'starved',
        'slowloris',
        `a fresh GET /healthz got no answer within 2 s while ${conns.filter((c) => !c.closed).length} slow connections were open`,
        Buffer.alloc(0),
      );
    }
  }
  const cut = conns
    .filter((c) => c.closed)
    .map((c) => ({
      afterSeconds: Math.round(((c.closedAt ?? Date.now()) - c.openedAt) / 100) / 10,
      status: c.responses[0]?.status,
    }));
  for (const conn of conns) {
    for (const res of conn.responses) ctx.check(res, Buffer.alloc(0), 'slowloris');
    conn.destroy();
  }
  return {
    sockets: conns.length,
    cut,
    stillOpen: conns.length - cut.length,
    probes,
    probeMaxMs,
    probeFailures,
  };
}
