import type { Logger } from '../core/logger';
import type { Broadcast } from '../stores/contract';

/** Why a session's event streams hear it ended. */
export type EndedReason =
  'logout' | 'replaced' | 'upstream_401' | 'expired' | 'revoked' | 'refresh_failed' | 'unreadable';

/** One session (by its handle) or every session of a user ended. */
export interface SessionEnded {
  readonly reason: EndedReason;
  readonly handle?: string;
  readonly userId?: string;
}

/**
 * Session events between the replicas: when a session ends anywhere, every stream of it
 * everywhere hears it. Carried by the store's Broadcast (Redis pub/sub across replicas), keyed by
 * the session's handle, never its id.
 */
export interface SessionEvents {
  /** Tells every replica; never rejects (a lost message costs a stream its `ended`, not a request). */
  ended(event: SessionEnded): void;
  /** Calls `listener` for every ended message, from any replica. */
  subscribe(listener: (event: SessionEnded) => void): Promise<void>;
}

const REASONS = new Set<string>([
  'logout',
  'replaced',
  'upstream_401',
  'expired',
  'revoked',
  'refresh_failed',
  'unreadable',
]);

/** Reads a message off the wire; anything not of our making is dropped. */
function parse(message: string): SessionEnded | undefined {
  try {
    const value = JSON.parse(message) as Record<string, unknown>;
    if (value.t !== 'ended' || typeof value.r !== 'string' || !REASONS.has(value.r))
      return undefined;
    const handle = typeof value.h === 'string' ? value.h : undefined;
    const userId = typeof value.u === 'string' ? value.u : undefined;
    if (handle === undefined && userId === undefined) return undefined;
    return { reason: value.r as EndedReason, handle, userId };
  } catch {
    return undefined;
  }
}

/** Session events over `broadcast`. */
export function createSessionEvents(broadcast: Broadcast, logger: Logger): SessionEvents {
  return {
    ended(event) {
      const message = JSON.stringify({
        t: 'ended',
        r: event.reason,
        h: event.handle,
        u: event.userId,
      });
      broadcast.publish(message).catch((err: unknown) => {
        logger.warn(
          { err: (err as Error).message, reason: event.reason },
          'session event not sent',
        );
      });
    },
    subscribe(listener) {
      return broadcast.subscribe((message) => {
        const event = parse(message);
        if (event) listener(event);
      });
    },
  };
}
