/**
 * The workloads. Each side-by-side round gives one system a fresh database and
 * a fresh worker process, then measures, in this order:
 *
 *   1. bulk enqueue: `bulkCalls` calls of `bulkSize` jobs (no worker running);
 *   2. drain: those jobs, from the worker's start call to the last completion
 *      recorded in the database. Before it (untimed) the database is ANALYZEd,
 *      as autovacuum would have done in a running system: a table filled a
 *      second ago still has the statistics of an empty one, and pg-boss's
 *      fetch then sorts the whole backlog on every call;
 *   3. idle latency: one job at a time into the idle worker, enqueue call to
 *      handler start, across processes;
 *   4. single enqueue: one job per call, after the worker has been stopped.
 *
 * Then, for this project only: the drain with a million finished rows in the
 * table, each time paired with one on an empty table (with the claim's
 * EXPLAIN), and the worker's memory over many tasks.
 */
import type { BenchSettings } from "./config.ts";
import { connect, scalar, type Client, type DatabaseManager } from "./postgres.ts";
import { checkDrained, claimStatement, databaseTask, insertFinishedRows, type DrainCheck } from "./systems/database-task.ts";
import type { Payload, Producer, QueueSystem, SystemName } from "./systems/system.ts";
import { now, percentile, sleep } from "./util.ts";
import { WorkerProcess } from "./worker-process.ts";
import { measureCloudTasksPath, type CloudTasksFigures } from "./cloudtasks.ts";

const SHORT_NAMES: Record<SystemName, string> = { "database-task": "dt", "graphile-worker": "gw", "pg-boss": "pb" };

/** Safety limits only: a healthy run never comes near them. */
const DRAIN_TIMEOUT_MS = 300_000;

export interface RateResult {
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
}

export interface LatencyResult {
  /** Enqueue call start to handler start, in ms, one per probe. */
  samplesMs: number[];
  p50: number;
  p90: number;
  /** Probes that never started within the timeout (counted, not in the samples). */
  timeouts: number;
}

export interface RoundResult {
  system: SystemName;
  bulk: RateResult;
  drain: RateResult;
  /** This project only: every drained task recorded as SUCCESSFUL with times and return value. */
  drainCheck?: DrainCheck;
  /** This project only: the same drain by a worker in the default claimMode "lease", on a fresh database. */
  leaseDrain?: RateResult;
  leaseDrainCheck?: DrainCheck;
  latency: LatencyResult;
  single: RateResult;
}

function rate(jobs: number, startedAt: number, endedAt: number): RateResult {
  const seconds = (endedAt - startedAt) / 1000;
  return { jobs, seconds, jobsPerSecond: jobs / seconds };
}

function payloads(count: number, first: number): Payload[] {
  return Array.from({ length: count }, (_, i) => ({ n: first + i }));
}

/** Polls until the system reports no unfinished job; resolves to the time it saw zero. */
async function waitUntilFinished(client: Client, sql: string, timeoutMs: number): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if ((await scalar(client, sql)) === 0) return now();
    if (now() > deadline) throw new Error(`jobs still unfinished after ${timeoutMs} ms (${sql})`);
    await sleep(1);
  }
}

export async function bulkEnqueue(producer: Producer, calls: number, size: number, first = 0): Promise<RateResult> {
  const batches = Array.from({ length: calls }, (_, c) => payloads(size, first + c * size));
  const started = now();
  for (const batch of batches) await producer.enqueueMany(batch);
  return rate(calls * size, started, now());
}

/**
 * Starts the (prepared, idle) worker and measures until `expected` jobs have
 * run and the database shows none unfinished. The clock starts in the child,
 * right before the system's start call; the child tells us when the last job's
 * handler has started, and from then on we poll the database.
 */
export async function drain(worker: WorkerProcess, client: Client, system: QueueSystem, expected: number): Promise<RateResult> {
  worker.send({ cmd: "watch", count: expected });
  worker.send({ cmd: "start" });
  const started = await worker.next("started", 60_000);
  await worker.next("reached", DRAIN_TIMEOUT_MS);
  const finished = await waitUntilFinished(client, system.unfinishedSql, 60_000);
  return rate(expected, started.at, finished);
}

/** Probes a running, idle worker one job at a time, pausing so it is idle again before each. */
export async function idleLatency(worker: WorkerProcess, producer: Producer, settings: BenchSettings, firstTag: number): Promise<LatencyResult> {
  const samplesMs: number[] = [];
  let timeouts = 0;
  const deadline = now() + settings.latencyBudgetMs;
  const [minGap, maxGap] = settings.latencyGapMs;
  for (let i = 0; i < settings.latencySamples && now() < deadline; i++) {
    await sleep(minGap + Math.random() * (maxGap - minGap));
    const tag = firstTag + i;
    const jobStarted = worker.jobStarted(tag, settings.pollSeconds * 1000 + 10_000);
    const enqueuedAt = now();
    await producer.enqueue({ n: tag, tag });
    const startedAt = await jobStarted;
    if (startedAt === null) timeouts++;
    else samplesMs.push(startedAt - enqueuedAt);
  }
  return { samplesMs, p50: percentile(samplesMs, 50), p90: percentile(samplesMs, 90), timeouts };
}

export async function singleEnqueue(producer: Producer, count: number, warmup: number, first: number): Promise<RateResult> {
  for (let i = 0; i < warmup; i++) await producer.enqueue({ n: first - warmup + i });
  const started = now();
  for (let i = 0; i < count; i++) await producer.enqueue({ n: first + i });
  return rate(count, started, now());
}

interface Session {
  url: string;
  client: Client;
  producer: Producer;
}

/** A client for the harness and a producer on an existing database; both closed afterwards. */
async function withSession<T>(system: QueueSystem, url: string, body: (session: Session) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    const producer = await system.producer(url);
    try {
      return await body({ url, client, producer });
    } finally {
      await producer.close();
    }
  } finally {
    await client.end();
  }
}

/** A fresh database with the system's tables, and a session on it; dropped afterwards. */
async function withDatabase<T>(databases: DatabaseManager, system: QueueSystem, tag: string, body: (session: Session) => Promise<T>): Promise<T> {
  const database = await databases.create(tag);
  try {
    await system.install(database.url);
    return await withSession(system, database.url, body);
  } finally {
    await databases.drop(database.name);
  }
}

async function spawnWorker(system: QueueSystem, url: string, settings: BenchSettings, claimMode?: "lease" | "lock"): Promise<WorkerProcess> {
  return WorkerProcess.spawn(system.name, url, { concurrency: settings.concurrency, pollSeconds: settings.pollSeconds, claimMode });
}

/** One round of the side-by-side workloads for one system. */
export async function sideBySideRound(databases: DatabaseManager, system: QueueSystem, settings: BenchSettings): Promise<RoundResult> {
  return withDatabase(databases, system, SHORT_NAMES[system.name], async ({ url, client, producer }) => {
    const worker = await spawnWorker(system, url, settings);
    try {
      const since = new Date();
      const bulk = await bulkEnqueue(producer, settings.bulkCalls, settings.bulkSize);
      await client.query("ANALYZE"); // statistics as in a running database, not a brand-new one
      const drained = await drain(worker, client, system, bulk.jobs);
      const drainCheck = system.name === "database-task" ? await checkDrained(client, since, bulk.jobs) : undefined;
      await sleep(500); // let the worker settle into idle after the burst
      const latency = await idleLatency(worker, producer, settings, 1_000_000);
      await worker.stop();
      const single = await singleEnqueue(producer, settings.singleCount, settings.singleWarmup, 2_000_000);
      return { system: system.name, bulk, drain: drained, drainCheck, latency, single };
    } finally {
      worker.kill();
    }
  });
}

/* ----- database-task only ----- */

/** The side-by-side drain by a worker in the default claimMode "lease", on a fresh database: reported beside the "lock" figure. */
export async function leaseModeDrain(databases: DatabaseManager, settings: BenchSettings): Promise<{ result: RateResult; check: DrainCheck }> {
  return withDatabase(databases, databaseTask, "dt_lease", (session) => checkedDrain(session, settings, 0, undefined, "lease"));
}

export interface ExplainResult {
  statementSource: string;
  statement: string;
  plan: string;
  usesClaimIndex: boolean;
}

const CLAIM_INDEX = "database_task_claim_idx";

/**
 * EXPLAIN (ANALYZE) of the claim, inside a transaction that is rolled back, so
 * the plan shows real row counts and timing and nothing is claimed.
 */
async function explainClaim(client: Client, limit: number): Promise<ExplainResult> {
  const statement = await claimStatement(limit);
  await client.query("BEGIN");
  try {
    const result = await client.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS) ${statement.sql}`, statement.params);
    const plan = result.rows.map((row) => row["QUERY PLAN"]).join("\n");
    return { statementSource: statement.source, statement: statement.sql.replace(/\s+/g, " ").trim(), plan, usesClaimIndex: plan.includes(CLAIM_INDEX) };
  } finally {
    await client.query("ROLLBACK");
  }
}

export interface HistoryResult {
  finishedRows: number;
  insertSeconds: number;
  tableSize: string;
  /** Drains with the history in the table ... */
  drains: RateResult[];
  /** ... each paired with a drain on a fresh empty table right before or after it (order alternating). */
  emptyDrains: RateResult[];
  drainChecks: DrainCheck[];
  explain: ExplainResult;
}

/**
 * One drain of `bulkCalls` x `bulkSize` tasks by a fresh worker process, as in
 * the side-by-side rounds, checked afterwards; `beforeDrain` runs once the
 * tasks are waiting.
 */
async function checkedDrain(
  { url, client, producer }: Session,
  settings: BenchSettings,
  first: number,
  beforeDrain: () => Promise<void> = async () => {},
  claimMode?: "lease" | "lock",
): Promise<{ result: RateResult; check: DrainCheck }> {
  const worker = await spawnWorker(databaseTask, url, settings, claimMode);
  try {
    const since = new Date();
    const bulk = await bulkEnqueue(producer, settings.bulkCalls, settings.bulkSize, first);
    await client.query("ANALYZE");
    await beforeDrain();
    const result = await drain(worker, client, databaseTask, bulk.jobs);
    const check = await checkDrained(client, since, bulk.jobs);
    await worker.stop();
    return { result, check };
  } finally {
    worker.kill();
  }
}

/**
 * The drain with `historyRows` finished tasks in the table, against the same
 * drain on an empty table. On a shared machine throughput drifts over minutes,
 * so each history drain is paired with an empty-table drain run right next to
 * it (the order alternating), and the ratio is taken between those pairs.
 */
export async function historyDrain(databases: DatabaseManager, settings: BenchSettings, log: (line: string) => void): Promise<HistoryResult> {
  const system = databaseTask;
  const history = await databases.create("dt_history");
  try {
    await system.install(history.url);
    const { insertSeconds, tableSize } = await withSession(system, history.url, async (session) => {
      // One real task, run by a real worker, is the row the history is copied from.
      const first = await spawnWorker(system, session.url, settings);
      try {
        await session.producer.enqueue({ n: 0 });
        await drain(first, session.client, system, 1);
        await first.stop();
      } finally {
        first.kill();
      }
      const started = now();
      await insertFinishedRows(session.client, settings.historyRows - 1);
      await session.client.query("VACUUM (ANALYZE) database_task");
      // Write the load out now, so the first round does not pay for flushing a million fresh rows
      // (PG 15 lets superusers and pg_checkpoint members do this; elsewhere the first round pays).
      await session.client.query("CHECKPOINT").catch(() => undefined);
      const size = await session.client.query<{ size: string }>("SELECT pg_size_pretty(pg_total_relation_size('database_task')) AS size");
      return { insertSeconds: (now() - started) / 1000, tableSize: size.rows[0].size };
    });
    log(`  history: ${settings.historyRows.toLocaleString("en-US")} finished rows inserted in ${insertSeconds.toFixed(1)} s (table ${tableSize} with indexes)`);
    // One untimed drain first: the first one after loading a million rows runs a third slower
    // (caches, the table's first growth), and the goal is about a table that has history, not one
    // that was just loaded. Its tasks are checked like the others'.
    const warmUp = await withSession(system, history.url, (session) => checkedDrain(session, settings, 90_000_000));
    log(`  history: untimed warm-up drain ${Math.round(warmUp.result.jobsPerSecond).toLocaleString("en-US")} jobs/s (${warmUp.check.ok ? "recorded OK" : "NOT all recorded"})`);

    const drains: RateResult[] = [];
    const emptyDrains: RateResult[] = [];
    const drainChecks: DrainCheck[] = [];
    let explain: ExplainResult | null = null;
    for (let round = 0; round < settings.historyRounds; round++) {
      const runHistory = () =>
        withSession(system, history.url, async (session) => {
          const { result, check } = await checkedDrain(session, settings, (round + 1) * 10_000_000, async () => {
            explain ??= await explainClaim(session.client, settings.concurrency); // with READY tasks waiting, as a worker sees it
          });
          drains.push(result);
          drainChecks.push(check);
        });
      const runEmpty = () =>
        withDatabase(databases, system, "dt_empty", async (session) => {
          const { result, check } = await checkedDrain(session, settings, 0);
          emptyDrains.push(result);
          drainChecks.push(check);
        });
      for (const run of round % 2 === 0 ? [runEmpty, runHistory] : [runHistory, runEmpty]) await run();
      log(
        `  history round ${round + 1}: drain ${Math.round(drains[round].jobsPerSecond).toLocaleString("en-US")} jobs/s with the history, ` +
          `${Math.round(emptyDrains[round].jobsPerSecond).toLocaleString("en-US")} jobs/s on an empty table`,
      );
    }
    return { finishedRows: settings.historyRows, insertSeconds, tableSize, drains, emptyDrains, drainChecks, explain: explain! };
  } finally {
    await databases.drop(history.name);
  }
}

export interface MemoryResult {
  baselineTasks: number;
  tasks: number;
  rssAfterBaseline: number;
  rssAfterAll: number;
  ratio: number;
  /**
   * V8 heap still in use after a full GC (taken right after the RSS reading):
   * growth here means the worker holds on to something; RSS growth without it
   * is V8 and the allocator keeping memory they once needed.
   */
  heapAfterGcAfterBaseline: number;
  heapAfterGcAfterAll: number;
  /** RSS and heap in use (no GC forced) read every second along the way. */
  trace: Array<{ handled: number; rss: number; heapUsed: number }>;
  seconds: number;
  /** Set when the run was shortened to fit the time limit: the size it should have had. */
  reducedFrom?: number;
}

/**
 * One continuous worker process runs `memoryBaselineTasks` tasks, then the
 * rest up to `memoryTasks`; its RSS is read when each part is done (the worker
 * idle again), and every second along the way.
 */
export async function workerMemory(databases: DatabaseManager, settings: BenchSettings): Promise<MemoryResult> {
  const system = databaseTask;
  return withDatabase(databases, system, "dt_memory", async ({ url, client, producer }) => {
    const worker = await spawnWorker(system, url, settings);
    const trace: MemoryResult["trace"] = [];
    const started = now();
    let tracing: NodeJS.Timeout | null = null;
    try {
      worker.send({ cmd: "start" });
      await worker.next("started", 60_000);
      tracing = setInterval(
        () => void worker.rss().then(({ handled, rss, heapUsed }) => trace.push({ handled, rss, heapUsed }), () => undefined),
        1_000,
      );

      const runUpTo = async (total: number, already: number) => {
        worker.send({ cmd: "watch", count: total });
        for (let n = already; n < total; n += settings.bulkSize) {
          await producer.enqueueMany(payloads(Math.min(settings.bulkSize, total - n), n));
        }
        await worker.next("reached", DRAIN_TIMEOUT_MS * 2);
        await waitUntilFinished(client, system.unfinishedSql, 60_000);
        await sleep(500);
      };

      await runUpTo(settings.memoryBaselineTasks, 0);
      const afterBaseline = await worker.rss({ gc: true });
      await runUpTo(settings.memoryTasks, settings.memoryBaselineTasks);
      const afterAll = await worker.rss({ gc: true });
      clearInterval(tracing);
      tracing = null;
      await worker.stop();
      return {
        baselineTasks: settings.memoryBaselineTasks,
        tasks: settings.memoryTasks,
        rssAfterBaseline: afterBaseline.rss,
        rssAfterAll: afterAll.rss,
        ratio: afterAll.rss / afterBaseline.rss,
        heapAfterGcAfterBaseline: afterBaseline.heapAfterGc ?? Number.NaN,
        heapAfterGcAfterAll: afterAll.heapAfterGc ?? Number.NaN,
        trace,
        seconds: (now() - started) / 1000,
      };
    } finally {
      if (tracing) clearInterval(tracing);
      worker.kill();
    }
  });
}

export type CloudTasksResult = CloudTasksFigures | { status: "not measured"; note: string };

/**
 * The Cloud Tasks path against the project's emulator (bench/cloudtasks.ts):
 * enqueue rate through the cloudtasks backend, execute requests per second
 * with OIDC on and off. Reported beside the plain database path.
 */
export async function cloudTasksPath(databases: DatabaseManager, settings: BenchSettings): Promise<CloudTasksResult> {
  try {
    return await measureCloudTasksPath(databases, { quick: settings.quick });
  } catch (error) {
    return { status: "not measured", note: `the measurement failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
