import type Redis from 'ioredis';

/**
 * Resolves once every replica of `primary` has acknowledged all it has written so far. WAIT
 * does not do this from a test's own client: it waits only for that client's writes, and one
 * that wrote nothing returns at once, before the gateway's writes have replicated (a test run
 * saw a failover test lose its session so). Replicas acknowledge about once a second.
 */
export async function replicated(primary: Redis, replicas = 1, timeoutMs = 5000): Promise<void> {
  const offsetOf = (info: string): number =>
    Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? Number.NaN);
  const written = offsetOf(await primary.info('replication'));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await primary.info('replication');
    const acked = [...info.matchAll(/^slave\d+:.*\boffset=(\d+)/gm)].filter(
      (m) => Number(m[1]) >= written,
    ).length;
    if (acked >= replicas) return;
    if (Date.now() > deadline) {
      throw new Error(`replicas did not acknowledge offset ${written} in ${timeoutMs} ms: ${info}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
