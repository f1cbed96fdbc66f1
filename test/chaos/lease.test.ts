/**
 * Lease expiry end to end, with real processes: worker A runs long tasks,
 * renewing their lease (shorter than the tasks) while it lives; SIGKILLed, it
 * stops renewing, and worker B, already polling, takes the tasks back once the
 * lease has run out (not before), records the lost attempt, and finishes them.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getRuntime } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { logRun } from "../fixtures/tasks.ts";
import { databaseAvailable } from "../helpers/databases.ts";
import { looping, lostWorker, readRuns, report, sleep, startWorker, taskRows, waitFor, useChaosDatabase } from "./helpers.ts";

const LEASE_SECONDS = 2;
const TASK_MS = 4000;
const TASKS = 3;

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("lease expiry: a SIGKILLed worker's tasks are taken over after the lease", () => {
  const setup = useChaosDatabase("postgres", LEASE_SECONDS);

  it("renews while alive, recovers after the lease once dead, records WorkerLost, ends SUCCESSFUL", async () => {
    const knex = (await getRuntime()).storage().knex;
    const log = path.join(setup.project.dir, "runs.log");
    const env = { RUN_LOG: log, DATABASE_TASK_LOG_LEVEL: "warn" };
    const args = ["--continuous", "--concurrency", String(TASKS), "--interval", "0.2"];

    const a = startWorker(args, { cwd: setup.project.dir, env });
    const aId = await a.id;
    const tasks = await logRun.enqueueMany(Array.from({ length: TASKS }, () => [TASK_MS] as [number]));
    const ids = tasks.map((t) => t.id);
    await waitFor("A to start every task", () => ids.every((id) => readRuns(log).get(id)?.length === 1), 15_000, 20);

    // B polls from now on; A is alive and renewing, so B must leave its tasks alone past the lease.
    const b = startWorker(args, { cwd: setup.project.dir, env });
    const bId = await b.id;
    await sleep(LEASE_SECONDS * 1000 + 500);
    expect([...readRuns(log).values()].flat()).toEqual(ids.map(() => aId));
    expect((await taskRows(knex, TASK_TABLE)).map((r) => r.status)).toEqual(ids.map(() => "RUNNING"));

    a.kill("SIGKILL");
    const killedAt = Date.now();
    await a.result;
    await waitFor("B to take the tasks over", () => ids.every((id) => readRuns(log).get(id)?.length === 2), 20_000, 20);
    const recoveryMs = Date.now() - killedAt;
    await waitFor("tasks to finish", async () => (await taskRows(knex, TASK_TABLE)).every((r) => r.status === "SUCCESSFUL"), TASK_MS + 10_000, 50);
    const finishedMs = Date.now() - killedAt;

    await looping(b);
    b.kill("SIGTERM");
    expect((await b.result).code).toBe(0);

    const rows = await taskRows(knex, TASK_TABLE);
    for (const row of rows) {
      expect(row.status).toBe("SUCCESSFUL");
      expect(row.attempts).toBe(2);
      expect(row.workerIds).toEqual([aId, bId]);
      expect(row.errors.map((e) => e.errorClass)).toEqual(["WorkerLost"]);
      expect(lostWorker(row.errors[0])).toBe(aId);
      expect(readRuns(log).get(row.id)).toEqual([aId, bId]);
    }
    report("lease-expiry/postgres", {
      tasks: TASKS,
      leaseSeconds: LEASE_SECONDS,
      recoverySeconds: (recoveryMs / 1000).toFixed(2),
      killToSuccessfulSeconds: (finishedMs / 1000).toFixed(2),
      rerunsAfterKill: TASKS,
      losses: 0,
    });
    // Not before the lease could have run out (renewed every lease/3: at least 2/3 of it was left at the kill),
    // and within the lease plus one recovery period (max(1 s, lease/2)) plus a poll, with some slack for a loaded machine.
    expect(recoveryMs).toBeGreaterThanOrEqual((LEASE_SECONDS * 1000 * 2) / 3 - 100);
    expect(recoveryMs).toBeLessThan(LEASE_SECONDS * 1000 + 1000 + 200 + 2000);
  });
});
