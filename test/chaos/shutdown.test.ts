/**
 * Graceful shutdown with tasks in flight (SIGTERM, as Cloud Run, App Engine,
 * Kubernetes and systemd send it): the worker stops claiming, lets its running
 * tasks finish within the grace period, and exits 0. Tasks still running when
 * the grace period ends are put back READY at once, with a WorkerShutdown
 * error, and another worker completes them.
 */
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { close, configure, getRuntime } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { logRun } from "../fixtures/tasks.ts";
import { runCli } from "../helpers/cli.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";
import { makeProject } from "../helpers/project.ts";
import { quiet, readRuns, report, startWorker, stopAll, taskRows, waitFor } from "./helpers.ts";

const CONCURRENCY = 4;

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("graceful shutdown with tasks in flight", () => {
  let db: TestDatabase;
  let project: { dir: string; remove(): void };
  let log: string;
  let run = 0;

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    project = makeProject(db.url, "  worker: { leaseSeconds: 30 },\n");
    configure({ database: db.url, logger: quiet });
    await (await getRuntime()).storage().migrate();
  });

  beforeEach(async () => {
    await (await getRuntime()).storage().knex(TASK_TABLE).delete();
    log = path.join(project.dir, `runs-${++run}.log`);
  });

  afterAll(async () => {
    await stopAll();
    await close();
    await db?.drop();
    project?.remove();
  });

  it("SIGTERM with a long enough grace period: running tasks finish, nothing more is claimed, exit 0", async () => {
    const knex = (await getRuntime()).storage().knex;
    const worker = startWorker(["--continuous", "--concurrency", String(CONCURRENCY), "--interval", "0.2", "--grace-period", "10"], {
      cwd: project.dir,
      env: { RUN_LOG: log, DATABASE_TASK_LOG_LEVEL: "warn" },
    });
    await worker.id;
    // Twice as many as it runs at once: the second half must still be READY after the shutdown.
    const tasks = await logRun.enqueueMany(Array.from({ length: CONCURRENCY * 2 }, () => [1500] as [number]));
    await waitFor(`${CONCURRENCY} tasks running`, () => readRuns(log).size === CONCURRENCY, 15_000, 20);
    const signalled = Date.now();
    worker.kill("SIGTERM");
    const result = await worker.result;
    const exitMs = Date.now() - signalled;

    expect(result.code).toBe(0);
    expect(result.stderr).toContain("Received SIGTERM: finishing running tasks (at most 10 s)");
    const rows = await taskRows(knex, TASK_TABLE);
    const ran = readRuns(log);
    const byStatus = (status: string) => rows.filter((r) => r.status === status);
    expect(byStatus("SUCCESSFUL").map((r) => r.id).sort()).toEqual([...ran.keys()].sort());
    expect(byStatus("READY")).toHaveLength(CONCURRENCY);
    for (const row of byStatus("READY")) expect(row).toMatchObject({ attempts: 0, errors: [] });
    for (const runs of ran.values()) expect(runs).toHaveLength(1);
    expect(rows.every((r) => r.errors.length === 0)).toBe(true);
    expect(tasks).toHaveLength(rows.length);
    expect(exitMs).toBeLessThan(10_000);
    report("shutdown-graceful/postgres", {
      running: CONCURRENCY,
      finishedInGrace: byStatus("SUCCESSFUL").length,
      leftReady: byStatus("READY").length,
      exitCode: result.code ?? "signal",
      exitSeconds: (exitMs / 1000).toFixed(2),
      duplicates: 0,
      losses: 0,
    });
  });

  it("SIGTERM with a short grace period: unfinished tasks go back READY with WorkerShutdown; another worker completes them", async () => {
    const knex = (await getRuntime()).storage().knex;
    const env = { RUN_LOG: log, DATABASE_TASK_LOG_LEVEL: "warn" };
    const worker = startWorker(["--continuous", "--concurrency", String(CONCURRENCY), "--interval", "0.2", "--grace-period", "0.5"], {
      cwd: project.dir,
      env,
    });
    const firstId = await worker.id;
    // Two that finish within the grace period, the rest not (logRun does not stop when aborted).
    const quick = await logRun.enqueueMany([[100], [100]]);
    const slow = await logRun.enqueueMany(Array.from({ length: CONCURRENCY - 2 }, () => [5000] as [number]));
    await waitFor(`${CONCURRENCY} tasks running`, () => readRuns(log).size === CONCURRENCY, 15_000, 20);
    const signalled = Date.now();
    worker.kill("SIGTERM");
    const result = await worker.result;
    const exitMs = Date.now() - signalled;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Grace period over: ${slow.length} unfinished tasks put back in the queue`);
    expect(exitMs).toBeLessThan(5000);

    for (const row of await taskRows(knex, TASK_TABLE, {})) {
      if (quick.some((t) => t.id === row.id)) {
        expect(row).toMatchObject({ status: "SUCCESSFUL", attempts: 1, errors: [] });
      } else {
        expect(row).toMatchObject({ status: "READY", attempts: 1, workerIds: [firstId] });
        expect(row.errors.map((e) => e.errorClass)).toEqual(["WorkerShutdown"]);
        expect(row.errors[0].message).toContain(`worker ${firstId} shut down`);
      }
    }

    const second = await runCli(["worker", "--concurrency", String(CONCURRENCY)], { cwd: project.dir, env });
    expect(second.code).toBe(0);
    const secondId = /^Worker ID: (\S+)/.exec(second.stdout)![1];
    const rows = await taskRows(knex, TASK_TABLE);
    expect(rows.map((r) => r.status)).toEqual(rows.map(() => "SUCCESSFUL"));
    const ran = readRuns(log);
    for (const t of quick) expect(ran.get(t.id)).toEqual([firstId]);
    for (const t of slow) {
      // Run twice: the interrupted attempt, then the one that completed it. Never more.
      expect(ran.get(t.id)).toEqual([firstId, secondId]);
      const row = rows.find((r) => r.id === t.id)!;
      expect(row).toMatchObject({ attempts: 2, workerIds: [firstId, secondId] });
      expect(row.errors.map((e) => e.errorClass)).toEqual(["WorkerShutdown"]);
    }
    report("shutdown-interrupted/postgres", {
      running: CONCURRENCY,
      finishedInGrace: quick.length,
      putBack: slow.length,
      exitCode: result.code ?? "signal",
      exitSeconds: (exitMs / 1000).toFixed(2),
      completedBySecondWorker: slow.length,
      duplicatesBeyondInterrupted: 0,
      losses: 0,
    });
  });
});
