/** What parts of the app need to know about the process: whether it is shutting down. */
export class Lifecycle {
  private stopping = false;
  private readonly listeners: Array<() => void> = [];

  /** True once shutdown has begun: readiness turns 503 so the load balancer drains us. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** Calls `listener` when shutdown begins (at once if it has): e.g. to end event streams. */
  onShutdown(listener: () => void): void {
    if (this.stopping) listener();
    else this.listeners.push(listener);
  }

  /** Begins shutdown, once; the listeners run in the order they were added. */
  beginShutdown(): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const listener of this.listeners.splice(0)) listener();
  }
}
