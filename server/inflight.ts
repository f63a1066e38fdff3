import type { RequestHandler } from 'express';

/**
 * Counts requests whose handlers have not answered yet. A client that hangs up does not end its
 * request here: the handler may still be waiting on Genesys and then write to the store, so
 * shutdown must wait for the answer, not for the socket, before it closes the store.
 */
export class InflightTracker {
  private active = 0;
  private waiters: Array<() => void> = [];

  /** Requests in progress now. */
  get count(): number {
    return this.active;
  }

  /**
   * Mounted first: its res.end wrapper is then the innermost one, so it runs after
   * express-session's (which writes the session) has done its store work.
   */
  readonly track: RequestHandler = (_req, res, next) => {
    this.active += 1;
    const end = res.end;
    let ended = false;
    res.end = ((...args: unknown[]) => {
      if (!ended) {
        ended = true;
        this.leave();
      }
      return (end as (...a: unknown[]) => typeof res).apply(res, args);
    }) as typeof res.end;
    next();
  };

  /** Resolves once no request is in progress. */
  drained(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private leave(): void {
    this.active -= 1;
    if (this.active === 0) for (const resolve of this.waiters.splice(0)) resolve();
  }
}
