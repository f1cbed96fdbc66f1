/** Delay before retry number `attempt` (1 = after the first failure): exponential, capped, with jitter. */
export function retryDelayMs(attempt: number, { minMs = 1_000, maxMs = 3_600_000 } = {}): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
  // Half fixed, half random: spreads retries of tasks that failed together.
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
