/**
 * What one run measures and how big each workload is. `BENCH_QUICK=1` shrinks
 * everything to a smoke test that finishes in well under a minute.
 */

export type Part = "side-by-side" | "history" | "memory";
export const PARTS: readonly Part[] = ["side-by-side", "history", "memory"];

export interface BenchSettings {
  quick: boolean;
  /** Which parts run (BENCH_ONLY=history,memory); all by default. A partial run does not write latest.json. */
  parts: Part[];
  /** Rounds of the side-by-side workloads; medians are taken over them. */
  rounds: number;
  /** Concurrent task slots of the worker process, for every system. */
  concurrency: number;
  /** Tasks enqueued one at a time, per round (after `singleWarmup` untimed ones). */
  singleCount: number;
  singleWarmup: number;
  /** Bulk enqueue: `bulkCalls` calls of `bulkSize` tasks; these are the jobs the drain then runs. */
  bulkCalls: number;
  bulkSize: number;
  /** Idle latency: samples per round, capped by a time budget per round. */
  latencySamples: number;
  latencyBudgetMs: number;
  /** Pause before each latency sample (random in this range) so the worker is idle when it arrives. */
  latencyGapMs: [number, number];
  /** Finished rows already in the table for the history drain (database-task only). */
  historyRows: number;
  historyRounds: number;
  /** Worker RSS is read after this many tasks, then after `memoryTasks`. */
  memoryBaselineTasks: number;
  memoryTasks: number;
  /** Seconds between polls when idle, the same backstop for every system. */
  pollSeconds: number;
}

const full: BenchSettings = {
  quick: false,
  parts: [...PARTS],
  rounds: 5,
  concurrency: 8,
  singleCount: 2_000,
  singleWarmup: 20,
  bulkCalls: 20,
  bulkSize: 1_000,
  latencySamples: 150,
  latencyBudgetMs: 15_000,
  latencyGapMs: [25, 60],
  historyRows: 1_000_000,
  historyRounds: 5,
  memoryBaselineTasks: 10_000,
  memoryTasks: 200_000,
  pollSeconds: 2,
};

const quick: BenchSettings = {
  ...full,
  quick: true,
  rounds: 1,
  singleCount: 200,
  singleWarmup: 5,
  bulkCalls: 5,
  latencySamples: 20,
  latencyBudgetMs: 4_000,
  historyRows: 50_000,
  historyRounds: 1,
  memoryBaselineTasks: 2_000,
  memoryTasks: 10_000,
};

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const isQuick = env.BENCH_QUICK !== undefined && env.BENCH_QUICK !== "" && env.BENCH_QUICK !== "0";
  const settings = { ...(isQuick ? quick : full) };
  if (env.BENCH_ONLY) {
    const parts = env.BENCH_ONLY.split(",").map((part) => part.trim()) as Part[];
    const unknown = parts.filter((part) => !PARTS.includes(part));
    if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown part(s) ${unknown.join(", ")}; choose from ${PARTS.join(", ")}`);
    settings.parts = parts;
  }
  return settings;
}

/** Where PostgreSQL is; the benchmark creates and drops its own databases there. */
export const SERVER_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
