import type { Rng } from './rng';

/**
 * What the random requests of an embedded run (`npm run fuzz -- --embedded`) send to the popup
 * login's routes (docs/embedded.md#popup-login): hostile `POST /auth/popup` and
 * `POST /auth/handoff` bodies, frame binding cookies right and wrong, and `?popup=` tickets
 * tampered, lapsed or forged. The real bindings, tickets and spent codes they replay come from
 * the handoff lane (harness/handoff-lane.ts), through an EmbeddedFuzz.
 */

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** What the handoff lane has seen so far, for the random requests to replay. */
export interface EmbeddedFuzz {
  /** The frame binding cookie's name, as `POST /auth/popup` set it (undefined before any). */
  bindingName(): string | undefined;
  /** A real frame binding, `name=value`. */
  binding(rng: Rng): string | undefined;
  /** A code already handed over: never good again. */
  spentCode(rng: Rng): string | undefined;
  /** The ticket of a real login URL. */
  ticket(rng: Rng): string | undefined;
  /** Seals `plain` with the gateway's own key (the harness knows its SESSION_SECRET). */
  seal(plain: string): string;
}

/** Up to `size` values, the newest kept; `pick` draws from the Rng even when empty. */
export class Keep {
  private readonly values: string[] = [];

  constructor(private readonly size = 64) {}

  add(value: string): void {
    this.values.push(value);
    if (this.values.length > this.size) this.values.shift();
  }

  pick(rng: Rng): string | undefined {
    const x = rng.next();
    return this.values.length === 0 ? undefined : this.values[Math.floor(x * this.values.length)];
  }
}

/** A `returnTo` as an attacker writes it: open redirects, CR/LF, lengths, broken escapes. */
export function returnToValue(rng: Rng): string {
  return rng.pick([
    '/',
    '/x',
    '/a/b?c=d',
    '//evil.example',
    '/\\evil.example',
    'https://evil.example',
    '/%2F%2Fevil.example',
    'javascript:alert(1)',
    ' /x',
    '/x%0D%0ASet-Cookie:%20a=b',
    `/${'r'.repeat(rng.pick([1000, 1024, 1025, 5000]))}`,
    encodeURIComponent('é'.repeat(2047)),
    '%ZZ',
    '/%E0%A4%A',
    '',
    '/\t/evil',
    '/..//evil',
  ]);
}

/** One character of `value` changed, at a random place. */
export function flipOne(rng: Rng, value: string): string {
  if (value.length === 0) return 'A';
  const i = rng.int(value.length);
  return `${value.slice(0, i)}${value[i] === 'A' ? 'B' : 'A'}${value.slice(i + 1)}`;
}

/** The plain text of a popup ticket (server/session/frame-binding.ts): binding digest, returnTo, time. */
export function ticketPlain(binding: string, returnTo: string, at: number): string {
  return JSON.stringify({ b: binding, r: returnTo, t: at });
}

/** Ten minutes and a second ago: past a ticket's lifetime (the login transaction's). */
export const LAPSED_MS = 10 * 60 * 1000 + 1000;

/** `?popup=` on `/auth/login`: real, tampered, lapsed, forged with the right key, malformed. */
export function popupQuery(rng: Rng, emb: EmbeddedFuzz): { query: string; tag: string } {
  const real = emb.ticket(rng);
  const digest = rng.string(43, B64URL);
  const kind = rng.int(12);
  const q = (ticket: string, tag: string) => ({ query: `?popup=${ticket}`, tag: `popup:${tag}` });
  switch (kind) {
    case 0:
    case 1:
      return q(real ?? rng.string(120, B64URL), 'real');
    case 2:
      return q(flipOne(rng, real ?? 'v1.x'), 'tampered');
    case 3:
      return q((real ?? 'v1.x').slice(0, rng.range(1, 60)), 'truncated');
    case 4:
      return q(emb.seal(ticketPlain(digest, '/', Date.now() - LAPSED_MS)), 'lapsed');
    case 5:
      return q(
        emb.seal(
          rng.pick([
            'null',
            '[]',
            'not json',
            '{"b":1,"r":"/","t":0}',
            `{"b":"${digest}","r":"/","t":"now"}`,
            `{"b":"${digest}","t":${Date.now()}}`,
          ]),
        ),
        'sealed-junk',
      );
    case 6:
      return q(
        `v1.00000000.${rng.string(16, B64URL)}.${rng.string(100, B64URL)}.${rng.string(22, B64URL)}`,
        'unknown-key',
      );
    case 7:
      return {
        query: rng.pick(['?popup=', '?popup', '?popup[]=x', '?popup[a]=x']),
        tag: 'popup:odd',
      };
    case 8:
      return { query: `?popup=${real ?? 'x'}&popup=${real ?? 'y'}`, tag: 'popup:repeated' };
    case 9:
      return q(`${'v1.'.repeat(rng.pick([1, 2000]))}%ZZ%E0%A4%A`, 'garbage');
    case 10:
      return {
        query: `?popup=${real ?? 'x'}&returnTo=${encodeURIComponent(returnToValue(rng))}`,
        tag: 'popup:with-returnTo',
      };
    default:
      return q(emb.seal(ticketPlain(digest, returnToValue(rng), Date.now())), 'forged-right-key');
  }
}

/** The frame binding cookie on a popup route: the lane's, none, forged, malformed, doubled. */
export function frameCookie(
  rng: Rng,
  emb: EmbeddedFuzz,
): { cookie: string | undefined; tag: string } {
  const name = emb.bindingName() ?? '__Host-Http-bff-frame';
  const real = emb.binding(rng);
  const roll = rng.int(10);
  if (roll < 4) return { cookie: real, tag: real === undefined ? 'none-yet' : 'real' };
  if (roll === 4) return { cookie: undefined, tag: 'none' };
  if (roll === 5) return { cookie: `${name}=${rng.string(22, B64URL)}`, tag: 'forged' };
  if (roll === 6) {
    const value = rng.pick([
      rng.string(21, B64URL),
      rng.string(23, B64URL),
      `${rng.string(21, B64URL)}=`,
      '%ZZ',
      '',
      'A'.repeat(5000),
      `"${rng.string(22, B64URL)}"`,
    ]);
    return { cookie: `${name}=${value}`, tag: 'malformed' };
  }
  if (roll === 7) {
    return {
      cookie: `${name}=${rng.string(22, B64URL)}; ${real ?? `${name}=x`}`,
      tag: 'forged-then-real',
    };
  }
  if (roll === 8) {
    const value = real?.slice(name.length + 1) ?? rng.string(22, B64URL);
    return { cookie: `${name}=${flipOne(rng, value)}`, tag: 'tampered' };
  }
  const near = rng.pick([name.toLowerCase(), `${name} `, name.replace('__Host-', ''), `${name}2`]);
  return {
    cookie: `${near}=${real?.slice(name.length + 1) ?? rng.string(22, B64URL)}`,
    tag: 'near-name',
  };
}

/** A handoff code that is never a live one: random, spent, the wrong shape or type. */
function codeValue(rng: Rng, emb: EmbeddedFuzz): { code: unknown; tag: string } {
  const spent = emb.spentCode(rng);
  const roll = rng.int(12);
  if (roll < 3) return { code: rng.string(43, B64URL), tag: 'random' };
  if (roll < 6) return { code: spent ?? rng.string(43, B64URL), tag: spent ? 'spent' : 'random' };
  if (roll === 6)
    return { code: rng.string(rng.pick([0, 1, 42, 44, 86, 10_000]), B64URL), tag: 'length' };
  if (roll === 7)
    return {
      code: `${rng.string(42, B64URL)}${rng.pick(['+', '/', '=', '.', ' ', '\u0000', 'é'])}`,
      tag: 'alphabet',
    };
  if (roll === 8) return { code: spent === undefined ? 'x' : ` ${spent}`, tag: 'padded' };
  if (roll === 9) return { code: spent === undefined ? 'x' : flipOne(rng, spent), tag: 'tampered' };
  const odd = rng.pick<unknown>([null, 43, true, [spent ?? 'x'], { code: spent ?? 'x' }, Infinity]);
  return { code: odd, tag: 'not-string' };
}

/**
 * A JSON body built from `valid`, or one of the ways a JSON body goes wrong: not an object,
 * malformed, over the 16 KB limit, huge, the wrong content type or none, duplicate keys,
 * `__proto__`, deep nesting, random bytes.
 */
function hostileJson(
  rng: Rng,
  valid: Record<string, unknown>,
): { body: Buffer; type: string | undefined; tag: string } {
  const type = 'application/json';
  const text = JSON.stringify(valid);
  const roll = rng.int(18);
  if (roll < 6) return { body: Buffer.from(text), type, tag: 'json' };
  switch (roll) {
    case 6:
      return {
        body: Buffer.from(rng.pick(['null', 'true', '[]', '"x"', '0', '{}', `[${text}]`])),
        type,
        tag: 'not-object',
      };
    case 7:
      return {
        body: Buffer.from(
          rng.pick(['{', '{"code":', "{'code':'x'}", '', '{"a":1}}', '\x00', text.slice(0, -1)]),
        ),
        type,
        tag: 'malformed',
      };
    case 8:
      return {
        body: Buffer.from(JSON.stringify({ ...valid, pad: 'p'.repeat(17_000) })),
        type,
        tag: 'over-limit',
      };
    case 9:
      return { body: Buffer.alloc(rng.pick([100_000, 1_000_000]), 0x20), type, tag: 'huge' };
    case 10:
      return {
        body: Buffer.from(text),
        type: rng.pick([
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/jsonx',
          'application/json, text/plain',
          ';;;',
        ]),
        tag: 'content-type',
      };
    case 11:
      return { body: Buffer.from(text), type: undefined, tag: 'no-content-type' };
    case 12:
      return {
        body: Buffer.from(text, 'utf16le'),
        type: 'application/json; charset=utf-16le',
        tag: 'utf16',
      };
    case 13:
      return { body: Buffer.from(`{"code":"x",${text.slice(1)}`), type, tag: 'duplicate-key' };
    case 14:
      return {
        body: Buffer.from(`{"__proto__":${text},"constructor":{"prototype":${text}}}`),
        type,
        tag: 'proto',
      };
    case 15:
      return {
        body: Buffer.from(`{"code":${'['.repeat(5000)}${']'.repeat(5000)}}`),
        type,
        tag: 'deep-nesting',
      };
    case 16:
      return {
        body: Buffer.from(`${' '.repeat(rng.pick([0, 16_000]))}${text}`),
        type,
        tag: 'padded',
      };
    default:
      return { body: rng.bytes(rng.range(1, 400)), type, tag: 'random-bytes' };
  }
}

/** The body of a random `POST /auth/popup` or `POST /auth/handoff` of an embedded run. */
export function embeddedBody(
  rng: Rng,
  emb: EmbeddedFuzz,
  path: string,
): { body: Buffer | undefined; type: string | undefined; tag: string } {
  if (path === '/auth/handoff') {
    const { code, tag } = codeValue(rng, emb);
    const made = hostileJson(
      rng,
      rng.chance(0.1) ? { code, returnTo: '/', binding: 'x' } : { code },
    );
    return { ...made, tag: `${made.tag}:${tag}` };
  }
  if (rng.chance(0.3)) return { body: undefined, type: undefined, tag: 'none' };
  const returnTo = rng.chance(0.8)
    ? returnToValue(rng)
    : rng.pick<unknown>([null, 1, ['/a'], { a: 1 }, true]);
  return hostileJson(rng, { returnTo });
}
