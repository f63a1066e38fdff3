import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SessionData } from '../stores/session-data';
import type { SessionRepository } from '../stores/contract';
import type { TokenSet } from '../genesys/client';
import type { TokenVault } from './token-vault';
import { AppError } from '../core/errors';

/** docs/embedded.md#popup-login: a handoff code is good once, for 60 s. */
export const HANDOFF_TTL_MS = 60_000;
const CODE = /^[A-Za-z0-9_-]{43}$/;

/** A login finished in the popup, waiting for the frame that asked for it. */
export interface StagedLogin {
  readonly user: { readonly id: string; readonly name: string };
  readonly tokens: TokenSet;
  readonly userAgent: string | undefined;
}

/** Hands a popup's login over to its frame (docs/embedded.md#popup-login). */
export interface Handoffs {
  /** Keeps the login for HANDOFF_TTL_MS, bound to the frame binding's digest; resolves with its one-time code. */
  stage(login: StagedLogin, binding: string): Promise<string>;
  /**
   * The login behind `code`, once: unknown, lapsed, spent, or bound to another frame binding
   * than `binding` (a digest) is a 400. A foreign attempt does not spend the code, so a thief
   * who races the frame cannot lock its user out.
   */
  take(code: string, binding: string): Promise<StagedLogin>;
}

/** The digest the store and a popup ticket know a frame binding by; never the binding itself. */
export function digestOf(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

const refused = (): AppError =>
  new AppError(
    400,
    'invalid-handoff',
    'Unknown, expired or already used login code, or one this frame did not ask for: log in again.',
  );

/**
 * Codes live in the session store, so a popup answered by one replica hands over on another:
 * as a session record keyed by the code's SHA-256 (the code itself is stored nowhere, like a
 * password), with the user index entry that lets an admin revoke reach a login not yet handed
 * over. Its sealed tokens are as safe at rest as a session's. No cookie can name such a record:
 * cookies carry signed ids, and this id was never signed.
 */
export function createHandoffs(deps: {
  store: Pick<SessionRepository, 'getSession' | 'setSession' | 'destroySession'>;
  vault: TokenVault;
  clock: () => number;
}): Handoffs {
  const { store, vault, clock } = deps;
  return {
    async stage(login, binding) {
      const code = randomBytes(32).toString('base64url');
      const now = clock();
      const expiresAt = now + HANDOFF_TTL_MS;
      const record: SessionData = {
        // The store's expiry follows the cookie's, as for every session.
        cookie: {
          originalMaxAge: HANDOFF_TTL_MS,
          expires: new Date(expiresAt),
          httpOnly: true,
          path: '/',
        },
        user: { id: login.user.id, name: login.user.name },
        tokens: vault.seal(JSON.stringify(login.tokens)),
        tokenExpiresAt: login.tokens.expiresAt,
        createdAt: now,
        ...(login.userAgent === undefined ? {} : { userAgent: login.userAgent }),
        handoff: { binding, expiresAt },
      };
      await store.setSession(digestOf(code), record);
      return code;
    },

    async take(code, binding) {
      if (!CODE.test(code)) throw refused();
      const key = digestOf(code);
      const staged = await store.getSession(key);
      const handoff = staged?.handoff;
      if (!staged || !handoff || !staged.user || staged.tokens === undefined) throw refused();
      const expected = Buffer.from(handoff.binding);
      const given = Buffer.from(binding);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw refused();
      // Atomic in the store: of two frames racing with one code, on any replicas, one wins.
      if (!(await store.destroySession(key))) throw refused();
      if (clock() >= handoff.expiresAt) throw refused();
      let tokens: TokenSet;
      try {
        tokens = JSON.parse(vault.open(staged.tokens)) as TokenSet;
      } catch {
        // Sealed under a key rotated out within the last minute: as good as lapsed.
        throw refused();
      }
      return { user: staged.user, tokens, userAgent: staged.userAgent };
    },
  };
}
