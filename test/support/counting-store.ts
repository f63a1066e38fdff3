import type { SessionData } from 'express-session';
import { MemorySessionStore } from '../../server/stores/memory';

/** A memory store that counts the writes the gateway makes: sessions set, destroyed, claims. */
export class CountingStore extends MemorySessionStore {
  readonly writes = { set: 0, destroy: 0, claim: 0 };

  override async setSession(sid: string, sess: SessionData): Promise<void> {
    this.writes.set += 1;
    return super.setSession(sid, sess);
  }

  override async destroySession(sid: string): Promise<boolean> {
    this.writes.destroy += 1;
    return super.destroySession(sid);
  }

  override async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    this.writes.claim += 1;
    return super.claimOnce(key, ttlMs);
  }
}
