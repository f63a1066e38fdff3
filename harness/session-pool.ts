import { setTimeout as delay } from 'node:timers/promises';
import { ADMIN_USER, AGENT_USER } from '../emulator/genesys-emulator';
import type { EmulatorUser } from '../emulator/types';
import { Client, login, LoginFailed, NoAnswer, popupLogin, type LoginTarget } from './client';
import type { SessionKind, SessionRef } from './fuzz-cases';
import type { Rng } from './rng';

/**
 * Real sessions for the fuzz: `perKind` agents and as many admins, each logged in through the
 * emulator's OAuth flow (embedded: through the popup login and handoff, as a frame does). A
 * session the traffic ended (logout, a revoke, a 401) is logged in again in the background, so
 * most requests keep a live session to attack with.
 */

interface Slot {
  readonly kind: SessionKind;
  readonly slot: number;
  cookie: string | undefined;
  relogging: boolean;
}

/**
 * A user of the harness's own, besides the emulator's two: the embedded fuzz's handoff lane logs
 * in as this user, whom no request of the run revokes (the random revokes name the agent, the
 * admin or unknown ids), so the lane's logins and sessions need no gate against them.
 * harness/emulator-process.ts adds it.
 */
export const FRAME_USER: EmulatorUser = {
  id: '7d2c4b9e-5f1a-4e3b-8c6d-1a9f0e2b3c4d',
  name: 'Fran Frame',
  email: 'fran.frame@example.com',
  username: 'fran.frame@example.com',
  permissions: [],
};

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
  /** The session cookie's name, as the first login's Set-Cookie gave it. */
  cookieName: string | undefined;

  constructor(
    private readonly target: LoginTarget,
    perKind: number,
    private readonly embedded = false,
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
        const userId = USER_IDS[slot.kind];
        const cookie = await this.gate.login(slot.kind, async () =>
          this.embedded
            ? (await popupLogin(client, this.target, userId)).pair
            : login(client, this.target, userId),
        );
        // Every login names its cookie alike: the gateway's mode decides the name, not the route.
        const name = cookie.slice(0, cookie.indexOf('='));
        this.cookieName ??= name;
        if (name !== this.cookieName) throw new LoginFailed(`cookie-name:${name}`);
        slot.cookie = cookie;
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
