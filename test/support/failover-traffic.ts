/**
 * Runs `round` every 50 ms from a failover on, until `okRounds` rounds in a row succeed or
 * `limitMs` has passed; resolves with when the last run of good rounds began (undefined if the
 * last round failed). A good round followed by a bad one does not count as recovered.
 */
export async function untilServedAgain(
  round: () => Promise<boolean>,
  okRounds: number,
  limitMs = 30_000,
): Promise<number | undefined> {
  const started = Date.now();
  let recoveredAt: number | undefined;
  let inARow = 0;
  while (inARow < okRounds && Date.now() - started < limitMs) {
    if (await round()) {
      inARow += 1;
      recoveredAt ??= Date.now();
    } else {
      inARow = 0;
      recoveredAt = undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return recoveredAt;
}
