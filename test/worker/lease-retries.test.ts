/**
 * The default claim mode ("lease") uses up a task's attempts and then gives
 * up: a task with `maxAttempts: 3` that always throws runs exactly three
 * times, each attempt's error recorded in order, then stays FAILED with its
 * finish time, and no worker runs it again. Checked on every database.
 */
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getPendingTaskCount, getRuntime, task, Worker, type TaskContext } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase, type TestDialect } from "../helpers/databases.ts";

/** Every run of `alwaysFails`, as "task id, attempt number". */
const runs: string[] = [];
const alwaysFails = task(
  function alwaysFails(context: TaskContext, label: string) {
    runs.push(`${context.taskResult.id} ${context.attempt}`);
    throw new RangeError(`${label}: attempt ${context.attempt} failed`);
  },
  { name: "leaseRetries.alwaysFails", takesContext: true, maxAttempts: 3 },
);

for (const dialect of ["postgres", "mysql", "sqlite"] as TestDialect[]) {
  const available = await databaseAvailable(dialect);
  describe.skipIf(!available)(`lease-mode retries on ${dialect}`, () => {
    let db: TestDatabase;
    let knex: Knex;

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      configure({ database: db.url, logger: { debug() {}, info() {}, warn() {}, error() {} } });
      await (await getRuntime()).storage().migrate();
      knex = (await getRuntime()).storage().knex;
    });

    afterAll(async () => {
      await close();
      await db?.drop();
    });

    it("uses up maxAttempts: 3 with an always-failing task, ends FAILED, and never runs it a 4th time", async () => {
      runs.length = 0;
      const enqueued = await alwaysFails.enqueue("boom");
      expect(enqueued.maxAttempts).toBe(3);
      // Makes the backed-off retry due now, instead of waiting out its delay.
      const makeDue = () => knex(TASK_TABLE).where({ id: enqueued.id }).update({ available_at: knex.raw("enqueued_at") });
      const workerIds: string[] = [];

      for (const attempt of [1, 2]) {
        const worker = new Worker({ claimMode: "lease" });
        workerIds.push(worker.workerId);
        expect(await worker.run()).toMatchObject({ processed: 1, succeeded: 0, failed: 0, retried: 1 });
        const row = await enqueued.refresh();
        expect(row).toMatchObject({ status: "READY", attempts: attempt, finishedAt: null, workerIds });
        expect(row.errors.map((e) => e.message)).toEqual(Array.from({ length: attempt }, (_, i) => `boom: attempt ${i + 1} failed`));
        // Backing off: not due yet, so a worker finds nothing.
        expect(await getPendingTaskCount()).toBe(0);
        expect((await new Worker().run()).processed).toBe(0);
        await makeDue();
      }

      const last = new Worker({ claimMode: "lease" });
      workerIds.push(last.workerId);
      expect(await last.run()).toMatchObject({ processed: 1, succeeded: 0, failed: 1, retried: 0 });
      const failed = await enqueued.refresh();
      expect(failed).toMatchObject({ status: "FAILED", attempts: 3, maxAttempts: 3, workerIds, returnValue: null });
      expect(failed.errors.map((e) => [e.errorClass, e.message])).toEqual([
        ["RangeError", "boom: attempt 1 failed"],
        ["RangeError", "boom: attempt 2 failed"],
        ["RangeError", "boom: attempt 3 failed"],
      ]);
      for (const error of failed.errors) expect(error.stack).toContain("alwaysFails");
      expect(failed.finishedAt).toBeInstanceOf(Date);
      expect(failed.finishedAt!.getTime()).toBeGreaterThanOrEqual(failed.lastAttemptedAt!.getTime());
      expect(failed.lastAttemptedAt!.getTime()).toBeGreaterThan(failed.startedAt!.getTime());

      // Even with its available_at in the past, a FAILED task is never claimed again.
      await makeDue();
      expect(await getPendingTaskCount()).toBe(0);
      expect((await new Worker().run()).processed).toBe(0);
      expect(runs).toEqual([1, 2, 3].map((n) => `${enqueued.id} ${n}`));
      expect(await enqueued.refresh()).toMatchObject({ status: "FAILED", attempts: 3, errors: failed.errors, finishedAt: failed.finishedAt });
    });
  });
}
