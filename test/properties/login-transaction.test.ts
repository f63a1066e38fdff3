import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Request, Response } from 'express';
import fc from 'fast-check';
import { BadRequestError } from '../../server/core/errors';
import {
  LOGIN_TRANSACTION_TTL_MS,
  MAX_PENDING_LOGINS,
  loginTransactions,
  type LoginTransaction,
} from '../../server/session/login-transaction';
import { createLoginSecrets } from '../../server/session/pkce';
import { createTokenVault, type TokenVault } from '../../server/session/token-vault';
import { applyEdit, edit, hostileString, isWellFormed, RUNS } from './arbitraries';

// Transactions are costlier than the pure parsers (a seal per login): fewer runs, still many logins.
const TX_RUNS = Math.round(RUNS / 2);
const T0 = 1_800_000_000_000;

const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes));
const VAULT = createTokenVault([Buffer.alloc(32, 7)]);

/** A cookie jar that keeps what Set-Cookie lines say (name, value, path; expired ones removed). */
class Browser {
  readonly jar = new Map<string, { value: string; path: string }>();

  receive(lines: readonly string[]): void {
    for (const line of lines) {
      const [pair = '', ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = (n: string): string | undefined =>
        attributes
          .find((a) => a.toLowerCase().startsWith(`${n.toLowerCase()}=`))
          ?.slice(n.length + 1);
      const expires = attr('Expires');
      if (expires !== undefined && Date.parse(expires) <= 0) this.jar.delete(name);
      else this.jar.set(name, { value, path: attr('Path') ?? '/' });
    }
  }

  /** The Cookie header for a request to `path` (RFC 6265 §5.1.4 path match). */
  cookieFor(path: string): string | undefined {
    const sent = [...this.jar]
      .filter(([, c]) => c.path === '/' || path === c.path || path.startsWith(`${c.path}/`))
      .map(([name, c]) => `${name}=${c.value}`);
    return sent.length === 0 ? undefined : sent.join('; ');
  }

  names(prefix: string): string[] {
    return [...this.jar.keys()].filter((n) => n.startsWith(prefix));
  }
}

function fakeReq(cookie: string | undefined): Request {
  return { headers: cookie === undefined ? {} : { cookie } } as Request;
}

function fakeRes(): { res: Response; lines: string[] } {
  const lines: string[] = [];
  const res = {
    append(name: string, value: string) {
      expect(name).toBe('Set-Cookie');
      lines.push(value);
      return res;
    },
  } as unknown as Response;
  return { res, lines };
}

/** A gateway's login transactions on a movable clock, and a browser that talks to it. */
function setup(options: { secure: boolean; vault?: TokenVault }) {
  let now = T0;
  const transactions = loginTransactions({
    vault: options.vault ?? VAULT,
    secure: options.secure,
    clock: () => now,
  });
  const prefixes = options.secure
    ? { tx: '__Secure-bff-login-', bind: '__Host-bff-bind-' }
    : { tx: 'bff-login-', bind: 'bff-bind-' };
  return {
    prefixes,
    advance: (ms: number) => {
      now += ms;
    },
    /** GET /auth/login: the browser sends its Path=/ cookies and keeps what it is given. */
    start(browser: Browser, returnTo = '/'): { state: string; verifier: string; returnTo: string } {
      const { state, verifier } = createLoginSecrets();
      const { res, lines } = fakeRes();
      transactions.start(fakeReq(browser.cookieFor('/auth/login')), res, {
        state,
        verifier,
        returnTo,
      });
      browser.receive(lines);
      return { state, verifier, returnTo };
    },
    /** GET /auth/callback?state=…: the transaction, or the error finish threw. */
    finish(
      browser: Browser,
      state: string,
      cookie = browser.cookieFor('/auth/callback'),
    ): { ok: LoginTransaction } | { error: unknown } {
      const { res, lines } = fakeRes();
      try {
        return { ok: transactions.finish(fakeReq(cookie), res, state) };
      } catch (error) {
        return { error };
      } finally {
        browser.receive(lines);
      }
    },
    transactions,
  };
}

function isRefusal(result: { ok: unknown } | { error: unknown }): boolean {
  return (
    'error' in result && result.error instanceof BadRequestError && result.error.status === 400
  );
}

/** The one cookie of `prefix` a single pending login put in the jar. */
function onlyCookie(browser: Browser, prefix: string): string {
  const names = browser.names(prefix);
  expect(names).toHaveLength(1);
  return names[0] as string;
}

const returnTo = fc.oneof(
  fc.webPath().map((p) => `/${p}`),
  fc.string({ unit: 'binary', maxLength: 100 }).map((s) => `/${s}`),
  hostileString.filter(isWellFormed).map((s) => `/${s.slice(0, 300)}`),
);
const secure = fc.boolean();
const edits = fc.array(edit, { minLength: 1, maxLength: 3 });

describe('login transactions (property)', () => {
  it('logins started in several tabs (up to the cap) all finish, in any order, each with its own transaction', () => {
    const tabs = fc
      .array(returnTo, { minLength: 1, maxLength: MAX_PENDING_LOGINS })
      .chain((targets) =>
        fc.tuple(
          fc.constant(targets),
          fc.shuffledSubarray(
            targets.map((_, i) => i),
            { minLength: targets.length, maxLength: targets.length },
          ),
        ),
      );
    fc.assert(
      fc.property(secure, tabs, (isSecure, [targets, order]) => {
        const gateway = setup({ secure: isSecure });
        const browser = new Browser();
        const started = targets.map((target) => {
          gateway.advance(1000);
          return gateway.start(browser, target);
        });
        for (const i of order) {
          const tx = started[i] as (typeof started)[number];
          const result = gateway.finish(browser, tx.state);
          expect(result).toEqual({
            ok: {
              state: tx.state,
              verifier: tx.verifier,
              returnTo: tx.returnTo,
              issuedAt: expect.any(Number),
            },
          });
        }
        expect(browser.jar.size).toBe(0);
      }),
      { numRuns: TX_RUNS / 4 },
    );
  });

  it('a state is good for one use: finishing it again with the browser’s cookies is a 400', () => {
    fc.assert(
      fc.property(secure, returnTo, (isSecure, target) => {
        const gateway = setup({ secure: isSecure });
        const browser = new Browser();
        const { state } = gateway.start(browser, target);
        expect('ok' in gateway.finish(browser, state)).toBe(true);
        expect(isRefusal(gateway.finish(browser, state))).toBe(true);
      }),
      { numRuns: TX_RUNS },
    );
  });

  it('a tampered, truncated, extended or re-ordered transaction cookie is refused with 400', () => {
    fc.assert(
      fc.property(secure, returnTo, edits, (isSecure, target, changes) => {
        const gateway = setup({ secure: isSecure });
        const browser = new Browser();
        const { state } = gateway.start(browser, target);
        const name = onlyCookie(browser, gateway.prefixes.tx);
        const sealed = browser.jar.get(name)?.value as string;
        const tampered = changes.reduce(applyEdit, sealed);
        // What the server reads of it (cookie syntax: up to a `;`, trimmed) must have changed.
        fc.pre(tampered.split(';')[0]?.trim() !== sealed);
        browser.jar.set(name, { value: tampered, path: '/auth/callback' });
        expect(isRefusal(gateway.finish(browser, state))).toBe(true);
      }),
      { numRuns: TX_RUNS },
    );
  });

  it('a transaction sealed with another key never opens (400)', () => {
    fc.assert(
      fc.property(
        secure,
        fc.tuple(key, key).filter(([a, b]) => !a.equals(b)),
        returnTo,
        (isSecure, [ours, theirs], target) => {
          const foreign = setup({ secure: isSecure, vault: createTokenVault([theirs]) });
          const gateway = setup({ secure: isSecure, vault: createTokenVault([ours]) });
          const browser = new Browser();
          const { state } = foreign.start(browser, target);
          expect(isRefusal(gateway.finish(browser, state))).toBe(true);
        },
      ),
      { numRuns: TX_RUNS },
    );
  });

  it('cookie tossing: a transaction without its own binding cookie, or with any other binding value, is refused', () => {
    const binding = fc.oneof(
      fc.constant(undefined),
      fc.constant('another login'),
      fc
        .tuple(
          fc.nat().map((n) => n.toString(36)),
          fc.base64String({ minLength: 24, maxLength: 24 }),
        )
        .map(([t, b]) => `${t}.${b.slice(0, 22).replace(/\+/g, '-').replace(/\//g, '_')}`),
      hostileString,
    );
    fc.assert(
      fc.property(secure, returnTo, binding, (isSecure, target, planted) => {
        const gateway = setup({ secure: isSecure });
        const victim = new Browser();
        // The victim has a login of their own pending; the attacker has one of theirs.
        gateway.start(victim, '/');
        const attacker = new Browser();
        const { state } = gateway.start(attacker, target);
        const txName = onlyCookie(attacker, gateway.prefixes.tx);
        const bindName = onlyCookie(attacker, gateway.prefixes.bind);
        const victimBinding = victim.jar.get(onlyCookie(victim, gateway.prefixes.bind))?.value;
        // Planted into the victim's browser: the transaction (a sibling can set it), and at
        // most a binding value that is not the attacker's own.
        victim.jar.set(txName, {
          value: attacker.jar.get(txName)?.value as string,
          path: '/auth/callback',
        });
        const value = planted === 'another login' ? victimBinding : planted;
        if (value !== undefined && value !== attacker.jar.get(bindName)?.value) {
          victim.jar.set(bindName, { value, path: '/' });
        }
        expect(isRefusal(gateway.finish(victim, state))).toBe(true);
      }),
      { numRuns: TX_RUNS },
    );
  });

  it('a state other than the one started is refused with 400, even with the cookies renamed for it', () => {
    const otherState = fc.oneof(
      fc.constant('').map(() => createLoginSecrets().state),
      hostileString,
    );
    fc.assert(
      fc.property(secure, otherState, fc.boolean(), (isSecure, state, rename) => {
        const gateway = setup({ secure: isSecure });
        const browser = new Browser();
        const started = gateway.start(browser);
        fc.pre(state !== started.state);
        if (rename) {
          // The names the callback will look up for `state` (a digest of it), holding the
          // started login's cookies: only the sealed state itself can tell them apart.
          const digest = createHash('sha256').update(state).digest('base64url').slice(0, 16);
          for (const prefix of [gateway.prefixes.tx, gateway.prefixes.bind]) {
            const name = onlyCookie(browser, prefix);
            const cookie = browser.jar.get(name) as { value: string; path: string };
            browser.jar.delete(name);
            browser.jar.set(prefix + digest, cookie);
          }
        }
        expect(isRefusal(gateway.finish(browser, state))).toBe(true);
      }),
      { numRuns: TX_RUNS },
    );
  });

  it('a transaction finishes within 10 minutes of its start and is refused after', () => {
    const delay = fc.oneof(
      fc.integer({ min: 0, max: 2 * LOGIN_TRANSACTION_TTL_MS }),
      fc.constantFrom(
        LOGIN_TRANSACTION_TTL_MS - 1,
        LOGIN_TRANSACTION_TTL_MS,
        LOGIN_TRANSACTION_TTL_MS + 1,
      ),
    );
    fc.assert(
      fc.property(secure, delay, (isSecure, ms) => {
        const gateway = setup({ secure: isSecure });
        const browser = new Browser();
        const { state } = gateway.start(browser);
        gateway.advance(ms);
        const result = gateway.finish(browser, state);
        if (ms > LOGIN_TRANSACTION_TTL_MS) expect(isRefusal(result)).toBe(true);
        else expect('ok' in result).toBe(true);
      }),
      { numRuns: TX_RUNS },
    );
  });

  it(`pending logins are bounded: a browser keeps at most ${MAX_PENDING_LOGINS}, and the newest ones always finish`, () => {
    fc.assert(
      fc.property(
        secure,
        fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: 1, maxLength: 16 }),
        (isSecure, gaps) => {
          const gateway = setup({ secure: isSecure });
          const browser = new Browser();
          const states: string[] = [];
          for (const gap of gaps) {
            gateway.advance(gap);
            states.push(gateway.start(browser).state);
            expect(browser.names(gateway.prefixes.bind).length).toBeLessThanOrEqual(
              MAX_PENDING_LOGINS,
            );
            expect(browser.names(gateway.prefixes.tx).length).toBeLessThanOrEqual(
              MAX_PENDING_LOGINS,
            );
          }
          for (const state of states.slice(-MAX_PENDING_LOGINS).reverse()) {
            expect('ok' in gateway.finish(browser, state)).toBe(true);
          }
        },
      ),
      { numRuns: TX_RUNS / 4 },
    );
  });

  it('whatever Cookie header and state arrive, finish refuses with a 400 and start writes only valid Set-Cookie lines', () => {
    const cookieName = (prefixes: { tx: string; bind: string }): fc.Arbitrary<string> =>
      fc.oneof(
        fc.constantFrom(prefixes.tx, prefixes.bind).chain((p) =>
          fc.oneof(
            fc.base64String({ maxLength: 16 }).map((d) => p + d.replace(/=/g, '')),
            hostileString.map((s) => p + s.slice(0, 30)),
          ),
        ),
        hostileString.map((s) => s.slice(0, 30)),
      );
    const cookieValue = fc.oneof(
      fc.constant('').map(() => VAULT.seal(JSON.stringify({ state: 'x', issuedAt: T0 }))),
      fc.constant('').map(() => VAULT.seal('not json')),
      fc.constant('').map(() => VAULT.seal('{"__proto__":{"polluted":1},"state":"x"}')),
      fc.stringMatching(/^[0-9a-z]{1,12}\.[A-Za-z0-9_-]{22}$/),
      hostileString.map((s) => s.slice(0, 200)),
    );
    const request = secure.chain((isSecure) => {
      const gateway = setup({ secure: isSecure });
      return fc.tuple(
        fc.constant(gateway),
        fc.oneof(
          fc
            .array(fc.tuple(cookieName(gateway.prefixes), cookieValue), { maxLength: 8 })
            .map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('; ')),
          hostileString,
        ),
        fc.oneof(fc.constant('x'), hostileString),
      );
    });
    fc.assert(
      fc.property(request, ([gateway, cookie, state]) => {
        const finishing = fakeRes();
        let error: unknown;
        try {
          gateway.transactions.finish(fakeReq(cookie), finishing.res, state);
        } catch (err) {
          error = err;
        }
        expect(isRefusal({ error })).toBe(true);
        const starting = fakeRes();
        gateway.transactions.start(fakeReq(cookie), starting.res, {
          ...createLoginSecrets(),
          returnTo: '/',
        });
        for (const line of [...finishing.lines, ...starting.lines]) {
          expect(() => http.validateHeaderValue('set-cookie', line)).not.toThrow();
          expect(line).toMatch(/^[A-Za-z0-9_-]+=[^;\s]*(; [A-Za-z-]+(=[^;]+)?)+$/);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: TX_RUNS / 2 },
    );
  });
});
