import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { mintToken, tokenId, userOfTokenId } from '../../bench/bench-tokens';
import {
  seededSessionRecord,
  signedCookieValue,
  sidOfCookieValue,
} from '../../bench/seed-sessions';

// express-session signs its cookie with cookie-signature (a dependency of express-session).
const signature = createRequire(require.resolve('express-session'))('cookie-signature') as {
  sign(value: string, secret: string): string;
  unsign(value: string, secret: string): string | false;
};

describe('bench session seeding', () => {
  const secret = 'a-session-secret-of-at-least-32-characters';

  it('signs cookies exactly as express-session does', () => {
    const sid = randomBytes(32).toString('base64url');
    const value = signedCookieValue(sid, secret);
    expect(value).toBe(encodeURIComponent(`s:${signature.sign(sid, secret)}`));
    expect(signature.unsign(decodeURIComponent(value).slice(2), secret)).toBe(sid);
    expect(sidOfCookieValue(value)).toBe(sid);
  });

  it('builds a record like establish: idle expiry, clamped to a token that cannot be refreshed', () => {
    const now = Date.UTC(2026, 0, 1);
    const base = {
      user: { id: 'u1', name: 'User 1' },
      sealed: 'v1.sealed',
      now,
      idleTimeoutSeconds: 1800,
      absoluteTimeoutSeconds: 86_400,
      secure: false,
      sameSite: 'strict' as const,
    };
    const refreshable = seededSessionRecord({
      ...base,
      tokens: { accessToken: 'a', refreshToken: 'r', expiresAt: now + 600_000 },
    });
    expect(Object.keys(refreshable)).toEqual([
      'cookie',
      'user',
      'createdAt',
      'lastSeenAt',
      'userAgent',
      'tokens',
      'tokenExpiresAt',
    ]);
    expect(refreshable.cookie).toEqual({
      originalMaxAge: 1_800_000,
      expires: new Date(now + 1_800_000).toISOString(),
      secure: false,
      httpOnly: true,
      path: '/',
      sameSite: 'strict',
    });
    expect(refreshable.tokenExpiresAt).toBe(now + 600_000);
    const final = seededSessionRecord({
      ...base,
      tokens: { accessToken: 'a', refreshToken: undefined, expiresAt: now + 600_000 },
    });
    expect(final.cookie.originalMaxAge).toBe(600_000);
  });
});

describe('bench upstream tokens', () => {
  const key = randomBytes(32);

  it('accepts the tokens minted with its key, nothing else', () => {
    const token = mintToken(key, 'bench', 's1-1');
    expect(tokenId(key, 'bench', token)).toBe('s1-1');
    expect(tokenId(key, 'benchr', token)).toBeUndefined();
    expect(tokenId(randomBytes(32), 'bench', token)).toBeUndefined();
    const last = token.slice(-1) === 'A' ? 'B' : 'A';
    expect(tokenId(key, 'bench', `${token.slice(0, -1)}${last}`)).toBeUndefined();
    expect(tokenId(key, 'bench', 'bench.s1-1')).toBeUndefined();
    expect(userOfTokenId('s1-1')).toEqual({ id: 'bench-user-s1', name: 'Bench User s1' });
  });
});
