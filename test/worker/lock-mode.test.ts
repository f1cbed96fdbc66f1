/**
 * `claimMode: "lock"` (PostgreSQL): a claim only locks its rows, in a
 * transaction held open until the batch's outcomes are written. What a user
 * relies on: every task still ends with its status, attempt, worker, times and
 * return value; a running task is invisible to other workers (SKIP LOCKED) but
 * READY to readers; a worker that dies leaves its batch READY, uncounted, for
 * the next one; retries, shutdown and give-backs behave as in lease mode.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { close, configure, getRuntime, task, Worker } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { add, failing, logRun, sleeper } from "../fixtures/tasks.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";
import { makeProject } from "../helpers/project.ts";

const warnings: string[] = [];
const quiet = { debug() {}, info() {}, warn: (message: string) => void warnings.push(message), error() {} };

let release: () => void = () => {};
let gateReached: () => void = () => {};
/** Waits until the test opens the gate. */
const gated = task(
  async function gated(label: string) {
    gateReached();
    await new Promise<void>((resolve) => (release = resolve));
    return label;
  },
  { name: "lockMode.gated" },
);

interface Row {
  id: string;
  status: string;
  attempts: number;
  worker_ids: string[];
  errors: Array<{ errorClass: string; message: string }>;
  return_value: unknown;
  started_at: Date | null;
  last_attempted_at: Date | null;
  finished_at: Date | null;
  locked_until: Date | null;
}

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("claimMode lock on PostgreSQL", () => {
  let db: TestDatabase;
  let knex: Knex;
  const rows = async (): Promise<Row[]> => (await knex(TASK_TABLE).select("*").orderBy("id")) as Row[];

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    configure({ database: db.url, logger: quiet });
    knex = (await getRuntime()).storage().knex;
    await (await getRuntime()).storage().migrate();
  });

  beforeEach(async () => {
    await knex(TASK_TABLE).delete();
  });

  afterAll(async () => {
    await close();
    await db?.drop();
  });

  it("records every task's status, attempt, worker, times and return value, with one row version per task", async () => {
    await add.enqueueMany(Array.from({ length: 300 }, (_, i) => [i, 1] as [number, number]));
    const worker = new Worker({ claimMode: "lock", concurrency: 4, prefetch: 50 });
    const summary = await worker.run();
    expect(summary).toMatchObject({ processed: 300, succeeded: 300, failed: 0 });

    const all = await rows();
    expect(all).toHaveLength(300);
    for (const row of all) {
      expect(row.status).toBe("SUCCESSFUL");
      expect(row.attempts).toBe(1);
      expect(row.worker_ids).toEqual([worker.workerId]);
      expect(row.errors).toEqual([]);
      expect(row.locked_until).toBeNull();
      expect(row.started_at).not.toBeNull();
      expect(row.last_attempted_at?.getTime()).toBe(row.started_at!.getTime());
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at!.getTime());
    }
    expect(all.map((row) => row.return_value).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));

    // One write per task (a lease claim writes two: the claim, then the outcome). The statistics
    // collector counts updates; a backend reports its counts at the latest when it exits.
    await close();
    configure({ database: db.url, logger: quiet });
    knex = (await getRuntime()).storage().knex;
    let updates = 0;
    for (const started = Date.now(); Date.now() - started < 5000; await new Promise((resolve) => setTimeout(resolve, 50))) {
      const { rows: stats } = await knex.raw(`SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = ?`, [TASK_TABLE]);
      updates = Number(stats[0].n_tup_upd);
      if (updates >= 300) break;
    }
    expect(updates).toBe(300);
  });

  it("keeps a running task READY and locked: other workers skip it, readers see it unchanged until its outcome", async () => {
    const [{ id }] = await gated.enqueueMany([["first"]]);
    const reached = new Promise<void>((resolve) => (gateReached = resolve));
    const worker = new Worker({ claimMode: "lock" });
    const running = worker.run();
    await reached;

    const [row] = await rows();
    expect(row).toMatchObject({ id, status: "READY", attempts: 0, worker_ids: [], started_at: null });
    // Another worker, in either mode, finds nothing to claim: the row is locked.
    for (const claimMode of ["lease", "lock"] as const) {
      expect((await new Worker({ claimMode }).run()).processed).toBe(0);
    }

    release();
    expect((await running).succeeded).toBe(1);
    const [done] = await rows();
    expect(done).toMatchObject({ status: "SUCCESSFUL", attempts: 1, return_value: "first" });
  });

  it("records a failed attempt for a retry, then the final failure, keeping the first start time", async () => {
    const [{ id }] = await failing.using({ maxAttempts: 2 }).enqueueMany([["boom"]]);
    const worker = new Worker({ claimMode: "lock" });
    await worker.run();
    let [row] = await rows();
    expect(row).toMatchObject({ id, status: "READY", attempts: 1, worker_ids: [worker.workerId], finished_at: null });
    expect(row.errors.map((e) => [e.errorClass, e.message])).toEqual([["RangeError", "boom"]]);
    const firstStart = row.started_at!.getTime();

    await knex(TASK_TABLE).where({ id }).update({ available_at: new Date(Date.now() - 1000) });
    const second = new Worker({ claimMode: "lock" });
    expect((await second.run()).failed).toBe(1);
    [row] = await rows();
    expect(row).toMatchObject({ status: "FAILED", attempts: 2, worker_ids: [worker.workerId, second.workerId] });
    expect(row.errors).toHaveLength(2);
    expect(row.started_at!.getTime()).toBe(firstStart);
    expect(row.last_attempted_at!.getTime()).toBeGreaterThan(firstStart);
    expect(row.finished_at).not.toBeNull();
  });

  it("on stop, gives back prefetched tasks untouched and notes the interrupted one", async () => {
    await sleeper.enqueueMany(Array.from({ length: 6 }, () => [10_000] as [number]));
    let started = 0;
    const worker = new Worker({ claimMode: "lock", concurrency: 1, prefetch: 5, onTaskStart: () => started++ });
    const running = worker.run();
    while (started === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    worker.stop({ graceMs: 50 });
    await running;
    expect(worker.abandoned).toBe(1);

    const all = await rows();
    expect(all.map((row) => row.status)).toEqual(Array(6).fill("READY"));
    const interrupted = all.filter((row) => row.attempts === 1);
    expect(interrupted).toHaveLength(1);
    expect(interrupted[0].errors.map((e) => e.errorClass)).toEqual(["WorkerShutdown"]);
    expect(interrupted[0].worker_ids).toEqual([worker.workerId]);
    for (const row of all.filter((r) => r.attempts === 0)) expect(row).toMatchObject({ errors: [], worker_ids: [], started_at: null });
    // Nothing left locked: another worker can claim all six at once.
    const { rows: locked } = await knex.raw(`SELECT count(*) AS n FROM (SELECT id FROM ${TASK_TABLE} FOR UPDATE SKIP LOCKED) s`);
    expect(Number(locked[0].n)).toBe(6);
  });

  it("a claim stuck behind another transaction's lock gives up after the lock timeout and tries again", async () => {
    const [{ id }] = await add.enqueueMany([[20, 22]]);
    // A migration, say, holding the table: the claim cannot even start reading it.
    const blocker = (await knex.client.acquireConnection()) as { query(sql: string): Promise<unknown> };
    await blocker.query(`BEGIN; LOCK TABLE ${TASK_TABLE} IN ACCESS EXCLUSIVE MODE`);
    warnings.length = 0;
    let finished = 0;
    const worker = new Worker({ claimMode: "lock", continuous: true, interval: 0.2, onTaskFinish: () => finished++ });
    const running = worker.run();
    try {
      for (const started = Date.now(); warnings.length === 0 && Date.now() - started < 10_000; ) await new Promise((r) => setTimeout(r, 50));
      expect(warnings.filter((w) => w.startsWith("A claim waited too long for a lock"))).not.toHaveLength(0);
      expect(finished).toBe(0);
    } finally {
      await blocker.query("ROLLBACK");
      await knex.client.releaseConnection(blocker);
    }
    for (const started = Date.now(); finished === 0 && Date.now() - started < 10_000; ) await new Promise((r) => setTimeout(r, 50));
    worker.stop();
    await running;
    expect(finished).toBe(1);
    expect((await rows())[0]).toMatchObject({ id, status: "SUCCESSFUL", return_value: 42, attempts: 1 });
  }, 20_000);

  it("a worker process killed mid-batch leaves the batch READY and uncounted; the next worker runs it", async () => {
    const project = makeProject(db.url);
    try {
      const log = path.join(project.dir, "runs.log");
      const enqueued = await logRun.enqueueMany(Array.from({ length: 20 }, () => [100] as [number]));
      const env = { RUN_LOG: log, DATABASE_TASK_LOG_LEVEL: "warn" };
      const doomed = startCli(["worker", "--continuous", "--claim-mode", "lock", "--concurrency", "2", "--prefetch", "20"], {
        cwd: project.dir,
        env,
      });
      const runsSoFar = () => {
        try {
          return readFileSync(log, "utf8").trim().split("\n").length;
        } catch {
          return 0;
        }
      };
      for (const started = Date.now(); runsSoFar() < 5 && Date.now() - started < 20_000; ) await new Promise((r) => setTimeout(r, 20));
      expect(runsSoFar()).toBeGreaterThanOrEqual(5);
      doomed.kill("SIGKILL");
      await doomed.result;

      // A batch commits when its last task is done (the first, 2 tasks to fill the slots, may have).
      // The open one's transaction ended with the dead worker's connection: its tasks are as they
      // were, READY and uncounted, even those that ran.
      const after = await rows();
      const ranBeforeKill = new Set(readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" ")[0]));
      for (const row of after) {
        if (row.status === "SUCCESSFUL") expect([row.attempts, ranBeforeKill.has(row.id)]).toEqual([1, true]);
        else expect(row).toMatchObject({ status: "READY", attempts: 0, worker_ids: [], started_at: null });
      }
      const rolledBack = after.filter((row) => row.status === "READY" && ranBeforeKill.has(row.id));
      expect(rolledBack.length).toBeGreaterThan(0);

      const next = await runCli(["worker", "--claim-mode", "lock", "--concurrency", "4"], { cwd: project.dir, env });
      expect(next.stderr).toBe("");
      expect(next.code).toBe(0);
      const done = await rows();
      expect(done.map((row) => [row.status, row.attempts, row.worker_ids.length])).toEqual(Array(20).fill(["SUCCESSFUL", 1, 1]));
      expect(new Set(done.map((row) => row.id))).toEqual(new Set(enqueued.map((r) => r.id)));
      // Ran twice: exactly the tasks whose batch died with the first worker.
      const runs = readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" ")[0]);
      const twice = [...new Set(runs.filter((id, i) => runs.indexOf(id) !== i))].sort();
      expect(twice).toEqual(rolledBack.map((row) => row.id).sort());
    } finally {
      project.remove();
    }
  });
});

describe("claimMode lock elsewhere", () => {
  it("is refused on SQLite with a message that says what to use", async () => {
    const sqlite = await createTestDatabase("sqlite");
    const project = makeProject(sqlite.url);
    try {
      const result = await runCli(["worker", "--claim-mode", "lock"], { cwd: project.dir });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('claimMode "lock" needs PostgreSQL');
      expect(result.stderr).toContain('Use the default claimMode "lease"');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      project.remove();
      await sqlite.drop();
    }
  });

  it("refuses an unknown mode in the Worker options", async () => {
    const sqlite = await createTestDatabase("sqlite");
    try {
      configure({ database: sqlite.url, logger: quiet });
      await expect(new Worker({ claimMode: "locked" as "lock" }).run()).rejects.toThrow('Worker option claimMode must be "lease" or "lock"; got "locked".');
    } finally {
      await close();
      await sqlite.drop();
    }
  });

  it("refuses an unknown mode on the command line and in the config", async () => {
    const sqlite = await createTestDatabase("sqlite");
    const project = makeProject(sqlite.url);
    const badConfig = makeProject(sqlite.url, `  worker: { claimMode: "locked" },\n`);
    try {
      const cli = await runCli(["worker", "--claim-mode", "locked"], { cwd: project.dir });
      expect(cli.code).toBe(2);
      expect(cli.stderr).toMatch(/--claim-mode.*Allowed choices are lease, lock/);
      const config = await runCli(["worker"], { cwd: badConfig.dir });
      expect(config.code).not.toBe(0);
      expect(config.stderr).toContain('worker.claimMode must be "lease" or "lock"; got "locked"');
    } finally {
      project.remove();
      badConfig.remove();
      await sqlite.drop();
    }
  });
});
