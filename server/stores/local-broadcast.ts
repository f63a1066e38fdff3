import type { Broadcast } from './contract';

/** A Broadcast within this process: for the stores that serve one process (memory, SQLite). */
export function localBroadcast(): Broadcast {
  const listeners = new Set<(message: string) => void>();
  return {
    publish(message) {
      // Delivered later, as a message from Redis would be: the publisher never runs a listener.
      for (const listener of listeners) queueMicrotask(() => listener(message));
      return Promise.resolve();
    },
    subscribe(listener) {
      listeners.add(listener);
      return Promise.resolve();
    },
  };
}
