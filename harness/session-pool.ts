import { setTimeout as delay } from 'node:timers/promises';
import { ADMIN_USER, AGENT_USER } from '../emulator/genesys-emulator';
import { Client, login, LoginFailed, NoAnswer, type LoginTarget } from './client';
import type { SessionKind, SessionRef } from './fuzz-cases';
import type { Rng } from './rng';

/**
 * Real sessions for the fuzz: `perKind` agents and as many admins, each logged in through the
 * emulator's OAuth flow. A session the traffic ended (logout, a revoke, a 401) is logged in
 * again in the background, so most requests keep a live session to attack with.
 */

interface Slot {
  readonly kind: SessionKind;
  readonly slot: number;
  cookie: string | undefined;
  relogging: boolean;
}

export const USER_IDS: Readonly<Record<SessionKind, string>> = {
  agent: AGENT_USER.id,
  admin: ADMIN_USER.id,
};

/**
 * Keeps the harness's own revokes of a user apart from its logins of that user: a revoke landing
 * between a login's token exchange and its user lookup rightly fails that login (Genesys 401s
 * the new token). That race is the harness's, not the gateway's fault.
 */
export class RevokeGate {
  private readonly loggingIn: Record<SessionKind, number> = { agent: 0, admin: 0 };
  private readonly revoking: Record<SessionKind, number> = { agent: 0, admin: 0 };

  async login<T>(kind: SessionKind, run: () => Promise<T>): Promise<T> {
    while (this.revoking[kind] > 0) await delay(5);
    this.loggingIn[kind] += 1;
    try {
      return await run();
    } finally {
      this.loggingIn[kind] -= 1;
    }
  }

  async revoke<T>(kind: SessionKind, run: () => Promise<T>): Promise<T> {
    this.revoking[kind] += 1;
    try {
      while (this.loggingIn[kind] > 0) await delay(5);
      return await run();
    } finally {
      this.revoking[kind] -= 1;
    }
  }
}

export class SessionPool {
  private readonly slots: Slot[] = [];
  private closing = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly gate = new RevokeGate();
  logins = 0;
  /** Failed logins by step and status (`callback:500`). */
  readonly failures = new Map<string, number>();

  constructor(
    private readonly target: LoginTarget,
    perKind: number,
  ) {
    for (let i = 0; i < perKind; i += 1) {
      this.slots.push({ kind: 'agent', slot: i, cookie: undefined, relogging: false });
      this.slots.push({ kind: 'admin', slot: perKind + i, cookie: undefined, relogging: false });
    }
  }

  /** Logs every slot in; resolves when all tried. */
  async fill(): Promise<void> {
    for (const slot of this.slots) this.relogin(slot);
    await Promise.all([...this.pending]);
  }

  pick(kind: SessionKind, rng: Rng): SessionRef | undefined {
    const alive = this.slots.filter((s) => s.kind === kind && s.cookie !== undefined);
    if (alive.length === 0) return undefined;
    const slot = rng.pick(alive);
    return { kind, slot: slot.slot, cookie: slot.cookie as string };
  }

  /** The session `ref` ended: log its slot in again (unless it already was). */
  ended(ref: SessionRef): void {
    const slot = this.slots[this.slots.findIndex((s) => s.slot === ref.slot)];
    if (slot === undefined || slot.cookie !== ref.cookie) return;
    slot.cookie = undefined;
    this.relogin(slot);
  }

  /** Every session of a user ended (an admin revoked them). */
  revoked(kind: SessionKind): void {
    for (const slot of this.slots) {
      if (slot.kind === kind && slot.cookie !== undefined) {
        slot.cookie = undefined;
        this.relogin(slot);
      }
    }
  }

  /** Runs `send`, a revoke of every token of `kind`'s user, with no login of that user in flight. */
  whileRevoking<T>(kind: SessionKind, send: () => Promise<T>): Promise<T> {
    return this.gate.revoke(kind, send);
  }

  private relogin(slot: Slot): void {
    if (slot.relogging || this.closing) return;
    slot.relogging = true;
    const job = (async () => {
      // A client per login: concurrent logins must not share a connection.
      const client = new Client();
      let retry = false;
      try {
        slot.cookie = await this.gate.login(slot.kind, () =>
          login(client, this.target, USER_IDS[slot.kind]),
        );
        this.logins += 1;
      } catch (err) {
        const key =
          err instanceof LoginFailed
            ? err.step
            : err instanceof NoAnswer
              ? `no-answer:${err.reason}`
              : 'error';
        this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
        retry = true;
      } finally {
        client.close();
        slot.relogging = false;
      }
      // A failed login is counted (and fails the run); the slot still gets a session.
      if (retry) setTimeout(() => this.relogin(slot), 500).unref();
    })();
    this.pending.add(job);
    void job.then(() => this.pending.delete(job));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.pending]);
  }
}
