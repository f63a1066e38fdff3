import { randomBytes } from 'node:crypto';
import type {
  EmulatorClient,
  EmulatorOrg,
  EmulatorUser,
  IdleTokenTimeout,
  IssuedTokens,
} from './types';

/** Authorization codes live 60 s on the emulator clock. */
export const CODE_LIFETIME_MS = 60_000;
export const DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS = 86_400;
/** What a client without an explicit scope list is reported to hold. */
export const DEFAULT_SCOPES = [
  'authorization',
  'organization',
  'user-basic-info',
  'users:readonly',
];

export type GrantType = 'CODE' | 'CLIENT-CREDENTIALS';

export interface AccessTokenRecord {
  token: string;
  /** null for client-credentials tokens: no user context. */
  userId: string | null;
  clientId: string;
  grant: GrantType;
  expiresAt: number;
  /** Start of the current idle window. */
  lastActivity: number;
  refreshToken?: string;
}

export interface RefreshTokenRecord {
  token: string;
  userId: string;
  clientId: string;
}

export interface AuthCodeRecord {
  code: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  codeChallenge?: string;
  expiresAt: number;
}

/** Opaque, unguessable strings (never derived from anything), like Genesys tokens. */
export function opaque(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * All mutable state of one emulator instance: the org, its users and clients, issued codes and
 * tokens, the idle-timeout setting and the controllable clock. No module-level state, so
 * parallel emulators never share anything.
 */
export class EmulatorState {
  readonly users = new Map<string, EmulatorUser>();
  readonly clients = new Map<string, EmulatorClient>();
  readonly accessTokens = new Map<string, AccessTokenRecord>();
  readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  readonly codes = new Map<string, AuthCodeRecord>();
  hipaa: boolean;
  autoApproveUserId: string | null = null;
  idleTimeout: IdleTokenTimeout = { idleTokenTimeoutSeconds: 900, enableIdleTokenTimeout: false };
  private clockOffset = 0;
  private readonly realStart = Date.now();

  /** With realTime the clock also runs with the wall clock (the demo); else only advance() moves it. */
  constructor(
    readonly org: EmulatorOrg,
    private readonly startTime: number,
    hipaa: boolean,
    private readonly realTime = false,
  ) {
    this.hipaa = hipaa;
  }

  now(): number {
    const elapsed = this.realTime ? Date.now() - this.realStart : 0;
    return this.startTime + elapsed + this.clockOffset;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error('advance(ms) needs a non-negative number');
    this.clockOffset += ms;
    this.sweep();
  }

  idleEnabled(): boolean {
    return this.idleTimeout.enableIdleTokenTimeout === true;
  }

  idleMs(): number {
    return (this.idleTimeout.idleTokenTimeoutSeconds ?? 900) * 1000;
  }

  /** Merges a new setting; turning the feature on starts every live token's timer now. */
  updateIdleTimeout(patch: IdleTokenTimeout): IdleTokenTimeout {
    this.sweep();
    const wasEnabled = this.idleEnabled();
    this.idleTimeout = { ...this.idleTimeout, ...patch };
    if (!wasEnabled && this.idleEnabled()) {
      const now = this.now();
      for (const record of this.accessTokens.values()) record.lastActivity = now;
    }
    return this.idleTimeout;
  }

  /** Drops expired codes and tokens, and revokes tokens idle past the org timeout. */
  sweep(): void {
    const now = this.now();
    for (const [code, record] of this.codes) if (record.expiresAt <= now) this.codes.delete(code);
    for (const token of [...this.accessTokens.keys()]) this.lookup(token);
  }

  /**
   * The live record for a bearer token, or undefined when unknown, expired, idle or revoked.
   * Checks only this token (not a sweep), so a benchmark with many tokens stays O(1).
   */
  lookup(token: string): AccessTokenRecord | undefined {
    const record = this.accessTokens.get(token);
    if (!record) return undefined;
    const now = this.now();
    if (this.idleEnabled() && now >= record.lastActivity + this.idleMs()) {
      this.revokeAccessToken(token, true);
      return undefined;
    }
    if (record.expiresAt <= now) {
      this.revokeAccessToken(token, false);
      return undefined;
    }
    return record;
  }

  touch(record: AccessTokenRecord): void {
    record.lastActivity = this.now();
  }

  dateTokenIdles(record: AccessTokenRecord): string | undefined {
    if (!this.idleEnabled()) return undefined;
    return new Date(record.lastActivity + this.idleMs()).toISOString();
  }

  /** Idle revocation also kills the refresh token, as a revoked session would. */
  revokeAccessToken(token: string, withRefresh: boolean): void {
    const record = this.accessTokens.get(token);
    if (!record) return;
    this.accessTokens.delete(token);
    if (withRefresh && record.refreshToken) this.refreshTokens.delete(record.refreshToken);
  }

  /** DELETE /api/v2/tokens/{userId}: every access and refresh token, and pending codes. */
  revokeUser(userId: string): void {
    for (const record of [...this.accessTokens.values()]) {
      if (record.userId === userId) this.accessTokens.delete(record.token);
    }
    for (const record of [...this.refreshTokens.values()]) {
      if (record.userId === userId) this.refreshTokens.delete(record.token);
    }
    for (const record of [...this.codes.values()]) {
      if (record.userId === userId) this.codes.delete(record.code);
    }
  }

  issueCode(
    client: EmulatorClient,
    userId: string,
    redirectUri: string,
    codeChallenge?: string,
  ): string {
    const code = opaque(24);
    this.codes.set(code, {
      code,
      clientId: client.id,
      userId,
      redirectUri,
      ...(codeChallenge ? { codeChallenge } : {}),
      expiresAt: this.now() + CODE_LIFETIME_MS,
    });
    return code;
  }

  /** Single use: the code is gone whatever the outcome of its redemption. */
  takeCode(code: string): AuthCodeRecord | undefined {
    const record = this.codes.get(code);
    this.codes.delete(code);
    return record && record.expiresAt > this.now() ? record : undefined;
  }

  /**
   * Mints an access token, plus a refresh token only for a confidential client's code grant
   * while the org's idle timeout is off (Genesys issues none while it is on).
   */
  issueTokens(client: EmulatorClient, userId: string | null, grant: GrantType): IssuedTokens {
    const lifetime = client.accessTokenLifetimeSeconds ?? DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS;
    const now = this.now();
    const accessToken = opaque();
    const record: AccessTokenRecord = {
      token: accessToken,
      userId,
      clientId: client.id,
      grant,
      expiresAt: now + lifetime * 1000,
      lastActivity: now,
    };
    const withRefresh =
      grant === 'CODE' && userId !== null && client.secret !== undefined && !this.idleEnabled();
    if (withRefresh) {
      record.refreshToken = opaque();
      this.refreshTokens.set(record.refreshToken, {
        token: record.refreshToken,
        userId,
        clientId: client.id,
      });
    }
    this.accessTokens.set(accessToken, record);
    return {
      access_token: accessToken,
      expires_in: lifetime,
      ...(record.refreshToken ? { refresh_token: record.refreshToken } : {}),
    };
  }

  /** Rotation: the presented refresh token dies, a new pair is issued. */
  rotateRefreshToken(refreshToken: string, client: EmulatorClient): IssuedTokens | undefined {
    const record = this.refreshTokens.get(refreshToken);
    if (!record || record.clientId !== client.id || !this.users.has(record.userId))
      return undefined;
    this.refreshTokens.delete(refreshToken);
    return this.issueTokens(client, record.userId, 'CODE');
  }
}
