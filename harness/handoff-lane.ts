import { createHash } from 'node:crypto';
import {
  askPopup,
  Client,
  frameHeaders,
  LoginFailed,
  NoAnswer,
  onlyCookie,
  popupCode,
  setCookies,
  type LoginTarget,
} from './client';
import { flipOne, Keep, LAPSED_MS, ticketPlain, type EmbeddedFuzz } from './embedded-cases';
import { serialize, type RawRequest, type RawResponse } from './raw-http';
import { Rng } from './rng';
import { FRAME_USER } from './session-pool';

/**
 * The handoff lane of an embedded run: stateful scenarios of the popup login
 * (docs/embedded.md#popup-login), each with real frames (a client and its cookies each), a real
 * popup login through the emulator, and its code attacked: replayed, raced, shown by other frames,
 * with no binding, a forged or tampered one, in hostile bodies, without anti-forgery; and its
 * ticket tampered, lapsed or sealed for another frame. Beside the fuzz's oracle (no 5xx, leak or
 * stack trace in any answer), each scenario checks:
 *
 * - a handoff answers 204, 400, 403, 405, 413 or 415, nothing else;
 * - a code is accepted once at most, also by concurrent handoffs;
 * - a code shown with another frame's binding, a forged one or none never yields a session, and
 *   does not spend it: its own frame then gets the session;
 * - the session cookie of a handoff is the one the pool's logins were given (its name read from
 *   their Set-Cookie), `__Host-` and Secure, HttpOnly, SameSite=None, Partitioned, Path=/;
 * - a lapsed, tampered or foreign ticket starts no login (400), a good one does (302).
 */

export interface LaneContext {
  readonly target: LoginTarget;
  readonly seed: number;
  /** The session cookie's name the pool's logins were given. */
  cookieName(): string | undefined;
  /** The fuzz's oracle on one answer. */
  check(res: RawResponse, sent: Buffer, label: string): void;
  fail(kind: string, label: string, detail: string, sent?: Buffer, res?: RawResponse): void;
  count(outcome: string): void;
}

const HANDOFF_STATUSES = new Set([204, 400, 403, 405, 413, 415]);
const PARTITIONED = ['httponly', 'partitioned', 'path=/', 'samesite=none', 'secure'];
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** What the lane found, for the random requests to replay (EmbeddedFuzz). */
export class LaneFinds implements EmbeddedFuzz {
  private name: string | undefined;
  readonly bindings = new Keep();
  readonly spent = new Keep(256);
  readonly tickets = new Keep();

  constructor(readonly seal: (plain: string) => string) {}

  bindingName(): string | undefined {
    return this.name;
  }

  addBinding(pair: string): void {
    this.name ??= pair.slice(0, pair.indexOf('='));
    this.bindings.add(pair);
  }

  binding(rng: Rng): string | undefined {
    return this.bindings.pick(rng);
  }

  spentCode(rng: Rng): string | undefined {
    return this.spent.pick(rng);
  }

  ticket(rng: Rng): string | undefined {
    return this.tickets.pick(rng);
  }
}

/** The SHA-256 digest a ticket carries for a binding secret (server/session/handoff.ts digestOf). */
function digestOf(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** A scenario's run: its frames' requests, each checked, and its verdicts. */
class Run {
  constructor(
    readonly ctx: LaneContext,
    readonly finds: LaneFinds,
    readonly name: string,
    readonly rng: Rng,
  ) {}

  private readonly clients: Client[] = [];

  client(): Client {
    const c = new Client();
    this.clients.push(c);
    return c;
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  /** Sends `req` on `client`, and puts its answer through the fuzz's oracle. */
  async send(client: Client, req: RawRequest, step: string): Promise<RawResponse> {
    const res = await client.send(this.ctx.target.port, req);
    this.ctx.check(res, serialize(req), `${this.name} ${step}`);
    this.ctx.count(`${step} ${res.status}`);
    return res;
  }

  fail(kind: string, step: string, detail: string, req?: RawRequest, res?: RawResponse): void {
    this.ctx.fail(kind, `${this.name} ${step}`, detail, req ? serialize(req) : undefined, res);
  }

  /** A frame asks for a popup: its binding cookie and the login URL's ticket. */
  async ask(frame: Client, binding?: string): Promise<{ binding: string; ticket: string }> {
    const asked = await askPopup(frame, this.ctx.target, binding);
    this.ctx.check(asked.res, Buffer.alloc(0), `${this.name} popup`);
    this.finds.addBinding(asked.binding);
    const ticket = new URL(asked.loginUrl).searchParams.get('popup') ?? '';
    this.finds.tickets.add(ticket);
    if (binding !== undefined && asked.binding !== binding) {
      this.fail(
        'binding not reused',
        'popup',
        'POST /auth/popup with a well-formed binding cookie set another one',
        undefined,
        asked.res,
      );
    }
    return { binding: asked.binding, ticket };
  }

  /** The popup's login (a client of its own) for `ticket`: the code its page carries. */
  async code(ticket: string): Promise<string> {
    const popup = this.client();
    const { code, page } = await popupCode(
      popup,
      this.ctx.target,
      `${this.ctx.target.origin}/auth/login?popup=${ticket}`,
      FRAME_USER.id,
    );
    this.ctx.check(page, Buffer.alloc(0), `${this.name} popup page`);
    return code;
  }

  handoffRequest(code: unknown, cookie: string | undefined): RawRequest {
    return {
      method: 'POST',
      target: '/auth/handoff',
      headers: [
        ...frameHeaders(this.ctx.target),
        ['Content-Type', 'application/json'],
        ...(cookie !== undefined ? [['Cookie', cookie] as [string, string]] : []),
      ],
      body: Buffer.from(JSON.stringify({ code })),
    };
  }

  /**
   * A handoff that must win (`win`) or must not (`lose`, a failure of `kind` otherwise). Resolves
   * with the session cookie it set, when it won.
   */
  async handoff(
    client: Client,
    step: string,
    req: RawRequest,
    want: 'win' | 'lose',
    kind = 'code accepted twice',
  ): Promise<string | undefined> {
    const res = await this.send(client, req, step);
    return this.judge(step, req, res, want, kind);
  }

  judge(
    step: string,
    req: RawRequest,
    res: RawResponse,
    want: 'win' | 'lose',
    kind = 'code accepted twice',
  ): string | undefined {
    if (!HANDOFF_STATUSES.has(res.status)) {
      this.fail('handoff status', step, `a handoff answered ${res.status}`, req, res);
    }
    const name = this.ctx.cookieName();
    const session = onlyCookie(res);
    if (want === 'lose') {
      const set = name !== undefined && setCookies(res).has(name);
      if (res.status === 204 || set) {
        this.fail(
          kind,
          step,
          `answered ${res.status}${set ? ' with a session cookie' : ''}`,
          req,
          res,
        );
      }
      return undefined;
    }
    if (res.status !== 204 || session === undefined) {
      this.fail(
        'handoff refused',
        step,
        `the frame's own code, unspent, answered ${res.status}`,
        req,
        res,
      );
      return undefined;
    }
    const attrs = session.line
      .split(';')
      .slice(1)
      .map((a) => a.trim().toLowerCase());
    const missing = PARTITIONED.filter((a) => !attrs.includes(a));
    if (
      session.name !== name ||
      !session.name.startsWith('__Host-') ||
      missing.length > 0 ||
      attrs.some((a) => a.startsWith('domain='))
    ) {
      this.fail(
        'session cookie',
        step,
        `the handoff set ${session.name} (the pool's logins: ${String(name)})${missing.length > 0 ? `, without ${missing.join(', ')}` : ''}`,
        req,
        res,
      );
    }
    return session.pair;
  }

  /** `GET /session` with `cookie`: its status, which must be `want`. */
  async session(client: Client, cookie: string, want: number, step: string): Promise<void> {
    const req: RawRequest = {
      method: 'GET',
      target: '/session',
      headers: [...frameHeaders(this.ctx.target), ['Cookie', cookie]],
    };
    const res = await this.send(client, req, step);
    if (res.status !== want) {
      this.fail('session', step, `GET /session answered ${res.status}, not ${want}`, req, res);
    }
  }
}

interface Scenario {
  readonly name: string;
  run(r: Run): Promise<void>;
}

/** A frame's popup login up to its code: the frame, its binding and the code. */
async function staged(r: Run): Promise<{ frame: Client; binding: string; code: string }> {
  const frame = r.client();
  const { binding, ticket } = await r.ask(frame);
  return { frame, binding, code: await r.code(ticket) };
}

/** Another frame's binding: its own from /auth/popup, forged, tampered, malformed or none. */
async function foreignBinding(
  r: Run,
  own: string,
): Promise<{ cookie: string | undefined; tag: string }> {
  const name = own.slice(0, own.indexOf('='));
  const roll = r.rng.int(6);
  if (roll === 0) return { cookie: (await r.ask(r.client())).binding, tag: 'other-frame' };
  if (roll === 1) return { cookie: undefined, tag: 'no-binding' };
  if (roll === 2) return { cookie: `${name}=${r.rng.string(22, B64URL)}`, tag: 'forged' };
  if (roll === 3)
    return { cookie: `${name}=${flipOne(r.rng, own.slice(name.length + 1))}`, tag: 'tampered' };
  if (roll === 4)
    return { cookie: `${name.toLowerCase()}=${own.slice(name.length + 1)}`, tag: 'near-name' };
  return { cookie: `${name}=${own.slice(name.length + 1)}x`, tag: 'malformed' };
}

const SCENARIOS: readonly Scenario[] = [
  {
    // The frame takes its code, then it (and its replays) never works again.
    name: 'replay',
    async run(r) {
      const { frame, binding, code } = await staged(r);
      const session = await r.handoff(frame, 'handoff', r.handoffRequest(code, binding), 'win');
      r.finds.spent.add(code);
      if (session === undefined) return;
      await r.session(frame, session, 200, 'session');
      const replays = r.rng.range(1, 3);
      for (let i = 0; i < replays; i += 1) {
        const cookie = r.rng.chance(0.5) ? `${binding}; ${session}` : binding;
        await r.handoff(r.client(), 'replay', r.handoffRequest(code, cookie), 'lose');
      }
      await r.session(frame, session, 200, 'session after replays');
    },
  },
  {
    // Another frame (or none) shows the code first: refused, and the code is not spent.
    name: 'foreign',
    async run(r) {
      const { frame, binding, code } = await staged(r);
      const thieves = r.rng.range(1, 3);
      for (let i = 0; i < thieves; i += 1) {
        const foreign = await foreignBinding(r, binding);
        await r.handoff(
          r.client(),
          `thief:${foreign.tag}`,
          r.handoffRequest(code, foreign.cookie),
          'lose',
          'foreign code accepted',
        );
      }
      const session = await r.handoff(frame, 'owner', r.handoffRequest(code, binding), 'win');
      r.finds.spent.add(code);
      if (session !== undefined) await r.session(frame, session, 200, 'session');
    },
  },
  {
    // Concurrent handoffs of one code, each on its own connection: one wins, thieves never.
    name: 'race',
    async run(r) {
      const { binding, code } = await staged(r);
      const owners = r.rng.range(2, 8);
      const thieves = r.rng.int(3);
      const thiefCookies = await Promise.all(
        Array.from({ length: thieves }, () => foreignBinding(r, binding)),
      );
      const sends = [
        ...Array.from({ length: owners }, () => ({
          cookie: binding,
          owner: true,
        })),
        ...thiefCookies.map((t) => ({ cookie: t.cookie, owner: false })),
      ].sort(() => r.rng.next() - 0.5);
      const answers = await Promise.all(
        sends.map(async (s) => {
          const req = r.handoffRequest(code, s.cookie);
          return { ...s, req, res: await r.send(r.client(), req, s.owner ? 'race' : 'race thief') };
        }),
      );
      r.finds.spent.add(code);
      const won = answers.filter((a) => a.res.status === 204);
      for (const a of answers) {
        if (!a.owner) r.judge('race thief', a.req, a.res, 'lose', 'foreign code accepted');
        else if (!HANDOFF_STATUSES.has(a.res.status)) r.judge('race', a.req, a.res, 'lose');
      }
      const ownersWon = won.filter((a) => a.owner);
      if (ownersWon.length > 1) {
        r.fail(
          'code accepted twice',
          'race',
          `${ownersWon.length} of ${owners} concurrent handoffs of one code answered 204`,
          ownersWon[1]?.req,
          ownersWon[1]?.res,
        );
      } else if (ownersWon.length === 0) {
        const first = answers.find((a) => a.owner);
        r.fail(
          'handoff refused',
          'race',
          `none of ${owners} concurrent handoffs of a fresh code won`,
          first?.req,
          first?.res,
        );
      }
    },
  },
  {
    // Hostile handoffs with the frame's binding, the code wrapped wrong or missing: none
    // wins, none spends the code, and the plain handoff after them still does.
    name: 'hostile',
    async run(r) {
      const { frame, binding, code } = await staged(r);
      const base = r.handoffRequest(code, binding);
      const h = base.headers.filter(([n]) => n !== 'Content-Type');
      const json = (body: string, type = 'application/json'): RawRequest => ({
        ...base,
        headers: [...h, ['Content-Type', type]],
        body: Buffer.from(body),
      });
      const variants: [string, RawRequest][] = [
        ['text-plain', json(JSON.stringify({ code }), 'text/plain')],
        ['form', json(`code=${code}`, 'application/x-www-form-urlencoded')],
        ['no-type', { ...base, headers: h }],
        ['array', json(JSON.stringify([{ code }]))],
        ['nested', json(JSON.stringify({ code: { code } }))],
        ['list', json(JSON.stringify({ code: [code] }))],
        ['name-case', json(JSON.stringify({ Code: code }))],
        ['padded', json(JSON.stringify({ code: ` ${code}` }))],
        ['suffix', json(JSON.stringify({ code: `${code}=` }))],
        ['tampered', json(JSON.stringify({ code: flipOne(r.rng, code) }))],
        ['over-limit', json(JSON.stringify({ code, pad: 'p'.repeat(17_000) }))],
        ['malformed', json(`{"code":"${code}"`)],
        ['query', { ...json(''), target: `/auth/handoff?code=${code}` }],
        ['no-csrf', { ...base, headers: base.headers.filter(([n]) => n !== 'X-CSRF') }],
        [
          'origin',
          {
            ...base,
            headers: [
              ...base.headers.filter(([n]) => n !== 'Origin'),
              ['Origin', 'https://apps.mypurecloud.com'],
            ],
          },
        ],
        ['cross-site', { ...base, headers: [...base.headers, ['Sec-Fetch-Site', 'cross-site']] }],
        ['put', { ...base, method: 'PUT' }],
      ];
      const picked = [...variants].sort(() => r.rng.next() - 0.5).slice(0, r.rng.range(3, 8));
      for (const [tag, req] of picked)
        await r.handoff(frame, `hostile:${tag}`, req, 'lose', 'hostile handoff accepted');
      const session = await r.handoff(frame, 'after hostile', base, 'win');
      r.finds.spent.add(code);
      if (session !== undefined) await r.session(frame, session, 200, 'session');
    },
  },
  {
    // Tickets: tampered, cut, lapsed or junk ones start no login; one the harness seals for
    // another frame's binding does, and its code goes to that frame only.
    name: 'ticket',
    async run(r) {
      const frame = r.client();
      const { binding, ticket } = await r.ask(frame);
      const secret = binding.slice(binding.indexOf('=') + 1);
      const bad: [string, string][] = [
        ['tampered', flipOne(r.rng, ticket)],
        ['truncated', ticket.slice(0, r.rng.range(1, ticket.length - 1))],
        ['lapsed', r.finds.seal(ticketPlain(digestOf(secret), '/', Date.now() - LAPSED_MS))],
        ['not-json', r.finds.seal('not json')],
        ['wrong-types', r.finds.seal(JSON.stringify({ b: 1, r: '/', t: String(Date.now()) }))],
        ['empty', ''],
        ['random', `v1.${r.rng.string(8, '0123456789abcdef')}.${r.rng.string(140, B64URL)}`],
      ];
      const popup = r.client();
      for (const [tag, t] of bad.sort(() => r.rng.next() - 0.5).slice(0, r.rng.range(2, 5))) {
        const req: RawRequest = {
          method: 'GET',
          target: `/auth/login?popup=${encodeURIComponent(t)}`,
          headers: [
            ['Host', `127.0.0.1:${r.ctx.target.port}`],
            ['Accept', 'application/json'],
          ],
        };
        const res = await r.send(popup, req, `ticket:${tag}`);
        if (res.status !== 400)
          r.fail('ticket accepted', `ticket:${tag}`, `answered ${res.status}, not 400`, req, res);
      }
      // A ticket the gateway's key sealed for another frame's binding: the login is that frame's.
      const other = r.client();
      const { binding: otherBinding } = await r.ask(other);
      const otherSecret = otherBinding.slice(otherBinding.indexOf('=') + 1);
      const forged = r.finds.seal(
        ticketPlain(digestOf(otherSecret), '/', Date.now() - r.rng.int(9 * 60_000)),
      );
      const code = await r.code(forged);
      await r.handoff(
        frame,
        'asker',
        r.handoffRequest(code, binding),
        'lose',
        'foreign code accepted',
      );
      const session = await r.handoff(
        other,
        'bound frame',
        r.handoffRequest(code, otherBinding),
        'win',
      );
      r.finds.spent.add(code);
      if (session !== undefined) await r.session(other, session, 200, 'session');
    },
  },
  {
    // A second login in a frame that has a session: a new session id, the old one ended; the
    // frame's binding is reused by its second /auth/popup.
    name: 'relogin',
    async run(r) {
      const { frame, binding, code } = await staged(r);
      const first = await r.handoff(frame, 'first', r.handoffRequest(code, binding), 'win');
      r.finds.spent.add(code);
      if (first === undefined) return;
      const again = await r.ask(frame, binding);
      const code2 = await r.code(again.ticket);
      const second = await r.handoff(
        frame,
        'second',
        r.handoffRequest(code2, `${binding}; ${first}`),
        'win',
      );
      r.finds.spent.add(code2);
      if (second === undefined) return;
      if (second === first)
        r.fail('session not renewed', 'second', 'the second handoff kept the session id');
      await r.session(frame, first, 401, 'replaced session');
      await r.session(frame, second, 200, 'new session');
    },
  },
];

export const HANDOFF_SCENARIOS = SCENARIOS.length;

/** One scenario, numbered `n` of the lane's seed: every scenario in turn, users at random. */
export async function runScenario(ctx: LaneContext, finds: LaneFinds, n: number): Promise<number> {
  const t0 = Date.now();
  const scenario = SCENARIOS[n % SCENARIOS.length] as Scenario;
  const rng = Rng.for(ctx.seed ^ 0x68616e64, n);
  const r = new Run(ctx, finds, `handoff ${scenario.name}`, rng);
  try {
    await scenario.run(r);
  } catch (err) {
    const detail =
      err instanceof LoginFailed || err instanceof NoAnswer
        ? err.message
        : err instanceof Error
          ? err.message
          : String(err);
    r.fail(err instanceof NoAnswer ? 'no answer' : 'handoff lane', 'scenario', detail);
  } finally {
    r.close();
  }
  const ms = Date.now() - t0;
  if (process.env.HANDOFF_DEBUG) process.stderr.write(`scenario ${scenario.name} ${ms} ms\n`);
  return ms;
}
