/**
 * The behaviour every database must show, run once per dialect
 * (postgres.test.ts, mysql.test.ts, sqlite.test.ts) against a real server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  close,
  configure,
  events,
  getPendingTaskCount,
  getRuntime,
  processOneTask,
  processTasks,
  purgeCompletedTasks,
  recoverLostTasks,
  runTaskById,
  TaskResultDoesNotExistError,
  type TaskResult,
} from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { aborted, add, asyncEcho, calls, failing, flaky, record, returnsDate, setFlakyFailures, sleeper, withContext } from "../fixtures/tasks.ts";
import { createTestDatabase, type TestDatabase, type TestDialect } from "../helpers/databases.ts";

export function describeBehaviour(dialect: TestDialect, available: boolean): void {
  describe.skipIf(!available)(`storage behaviour on ${dialect}`, () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      configure({
        database: db.url,
        backends: { default: { backend: "database" }, other: { backend: "database" }, strict: { backend: "database", queues: ["default"] } },
        logger: { debug() {}, info() {}, warn() {}, error() {} },
      });
      expect(await (await getRuntime()).storage().migrate()).toEqual(["0001_create_task_table", "0002_notify_on_insert", "0003_dispatch_marker", "0004_leaner_indexes", "0005_dispatch_generation"]);
    });

    afterEach(async () => {
      await (await getRuntime()).storage().knex(TASK_TABLE).delete();
      calls.length = 0;
    });

    afterAll(async () => {
      await close();
      await db?.drop();
    });

    const knex = async () => (await getRuntime()).storage().knex;

    it("migrating again applies nothing", async () => {
      expect(await (await getRuntime()).storage().migrate()).toEqual([]);
    });

    it("stores an enqueued task as READY and reads it back", async () => {
      const result = await add.enqueue(2, 3);
      expect(result.status).toBe("READY");
      expect(result.id).toMatch(/^[0-9a-f-]{36}$/);
      const stored = await add.getResult(result.id);
      expect(stored).toMatchObject({
        id: result.id,
        taskName: "fixtures.add",
        status: "READY",
        args: [2, 3],
        queueName: "default",
        priority: 0,
        backend: "default",
        runAfter: null,
        startedAt: null,
        finishedAt: null,
        attempts: 0,
        workerIds: [],
        returnValue: null,
        errors: [],
      });
      expect(Math.abs(stored.enqueuedAt.getTime() - result.enqueuedAt.getTime())).toBeLessThan(5);
    });

    it("runs a task and records status, times, worker and return value", async () => {
      const enqueued = await add.enqueue(40, 2);
      const ran = await processOneTask({ workerId: "worker-a" });
      expect(ran?.id).toBe(enqueued.id);
      const stored = await enqueued.refresh();
      expect(stored.status).toBe("SUCCESSFUL");
      expect(stored.returnValue).toBe(42);
      expect(stored.attempts).toBe(1);
      expect(stored.workerIds).toEqual(["worker-a"]);
      expect(stored.startedAt).toBeInstanceOf(Date);
      expect(stored.lastAttemptedAt).toBeInstanceOf(Date);
      expect(stored.finishedAt!.getTime()).toBeGreaterThanOrEqual(stored.startedAt!.getTime());
      expect(await processOneTask()).toBeNull();
    });

    it("keeps JSON values intact: unicode, nesting, bytes as UTF-8 text", async () => {
      const value = { text: "héllo ✓ 😀", nested: [1, 2.5, null, true, { deep: "x" }], quote: "it's \"q\"" };
      const enqueued = await asyncEcho.enqueue(value);
      await processOneTask();
      expect((await enqueued.refresh()).returnValue).toEqual(value);
      const bytes = await asyncEcho.enqueue(Buffer.from("bytes ✓") as unknown as string);
      expect((await asyncEcho.getResult(bytes.id)).args).toEqual(["bytes ✓"]);
    });

    it("records a failure with error class, message and stack", async () => {
      const enqueued = await failing.enqueue("boom");
      const ran = await processOneTask();
      expect(ran?.status).toBe("FAILED");
      const stored = await enqueued.refresh();
      expect(stored.status).toBe("FAILED");
      expect(stored.finishedAt).toBeInstanceOf(Date);
      expect(stored.errors).toHaveLength(1);
      expect(stored.errors[0]).toMatchObject({ errorClass: "RangeError", message: "boom" });
      expect(stored.errors[0].stack).toContain("RangeError: boom");
    });

    it("fails a task whose return value is not JSON-serializable", async () => {
      const enqueued = await returnsDate.enqueue();
      await processOneTask();
      const stored = await enqueued.refresh();
      expect(stored.status).toBe("FAILED");
      expect(stored.errors[0].message).toBe("return value: Date is not JSON-serializable; pass date.toISOString()");
    });

    it("fails a task no loaded module defines, says how to register it, and keeps going", async () => {
      const unknown = await add.enqueue(1, 1);
      await (await knex())(TASK_TABLE).where({ id: unknown.id }).update({ task_name: "nowhere.defined" });
      const next = await add.enqueue(2, 2);
      const results = await processTasks();
      expect(results.map((r) => r.status).sort()).toEqual(["FAILED", "SUCCESSFUL"]);
      const stored = await unknown.refresh();
      expect(stored.status).toBe("FAILED");
      expect(stored.errors[0].message).toContain('No task named "nowhere.defined"');
      expect(stored.errors[0].message).toContain("tasks");
      expect((await next.refresh()).status).toBe("SUCCESSFUL");
    });

    it("passes a TaskContext with the task result and the attempt number", async () => {
      const enqueued = await withContext.enqueue("hi");
      await processOneTask();
      expect((await enqueued.refresh()).returnValue).toEqual({ id: enqueued.id, attempt: 1, message: "hi" });
    });

    it("claims by priority (highest first), then oldest first", async () => {
      const low = await record.using({ priority: -5 }).enqueue("low");
      const first = await record.enqueue("normal-1");
      const high = await record.using({ priority: 50 }).enqueue("high");
      const second = await record.enqueue("normal-2");
      const order = (await processTasks()).map((r) => r.id);
      expect(order).toEqual([high.id, first.id, second.id, low.id]);
    });

    it("does not run a task before its runAfter, and does not count it as pending", async () => {
      const later = await record.using({ runAfter: new Date(Date.now() + 60_000) }).enqueue("later");
      const past = await record.using({ runAfter: new Date(Date.now() - 60_000) }).enqueue("past");
      await record.enqueue("now");
      expect(await getPendingTaskCount()).toBe(2);
      const ran = await processTasks();
      expect(ran.map((r) => r.args[0]).sort()).toEqual(["now", "past"]);
      expect((await later.refresh()).status).toBe("READY");
      expect((await later.refresh()).runAfter?.getTime()).toBe(later.runAfter?.getTime());
      expect(past.runAfter).toBeInstanceOf(Date);
    });

    it("an earlier runAfter runs before a later one at equal priority", async () => {
      const base = Date.now() - 10_000;
      const b = await record.using({ runAfter: new Date(base + 2000) }).enqueue("b");
      const a = await record.using({ runAfter: new Date(base + 1000) }).enqueue("a");
      expect((await processTasks()).map((r) => r.id)).toEqual([a.id, b.id]);
    });

    it("filters by queue and by backend", async () => {
      await record.using({ queueName: "emails" }).enqueue("email");
      await record.enqueue("default-queue");
      await record.using({ backend: "other" }).enqueue("other-backend");
      expect(await getPendingTaskCount({ queueName: "emails" })).toBe(1);
      expect(await getPendingTaskCount({ backendName: "other" })).toBe(1);
      const emails = await processTasks({ queueName: "emails" });
      expect(emails.map((r) => r.args[0])).toEqual(["email"]);
      const rest = await processTasks();
      expect(rest.map((r) => r.args[0])).toEqual(["default-queue"]);
      const other = await processTasks({ backendName: "other" });
      expect(other.map((r) => r.args[0])).toEqual(["other-backend"]);
    });

    it("stops at maxTasks", async () => {
      await add.enqueueMany([[1, 1], [2, 2], [3, 3]]);
      expect(await processTasks({ maxTasks: 2 })).toHaveLength(2);
      expect(await getPendingTaskCount()).toBe(1);
    });

    it("rejects a queue the backend does not list", async () => {
      await expect(record.using({ backend: "strict", queueName: "emails" }).enqueue("x")).rejects.toThrow(
        'Queue "emails" is not valid for backend "strict"',
      );
      expect(await (await knex())(TASK_TABLE).count({ n: "*" })).toEqual([{ n: expect.anything() }]);
      expect(await getPendingTaskCount({ backendName: "strict" })).toBe(0);
    });

    it("bulk-enqueues many tasks in one call", async () => {
      const results = await add.enqueueMany(Array.from({ length: 1500 }, (_, i) => [i, 1] as [number, number]));
      expect(results).toHaveLength(1500);
      expect(new Set(results.map((r) => r.id)).size).toBe(1500);
      expect(await getPendingTaskCount()).toBe(1500);
    });

    it("enqueues inside the caller's transaction: rollback leaves nothing, commit keeps it", async () => {
      const db = await knex();
      let rolledBackId = "";
      await db
        .transaction(async (trx) => {
          rolledBackId = (await record.using({ transaction: trx }).enqueue("rolled-back")).id;
          throw new Error("rollback");
        })
        .catch(() => undefined);
      await expect(record.getResult(rolledBackId)).rejects.toBeInstanceOf(TaskResultDoesNotExistError);
      let committedId = "";
      await db.transaction(async (trx) => {
        committedId = (await record.using({ transaction: trx }).enqueue("committed")).id;
      });
      expect((await record.getResult(committedId)).status).toBe("READY");
    });

    it("runTaskById runs a READY task once, and re-runs a FAILED one only with allowRetry", async () => {
      const ready = await add.enqueue(1, 2);
      expect((await runTaskById(ready.id))?.status).toBe("SUCCESSFUL");
      expect(await runTaskById(ready.id)).toBeNull();
      expect(await runTaskById(ready.id, { allowRetry: true })).toBeNull();

      const failed = await failing.enqueue("first");
      await runTaskById(failed.id);
      expect(await runTaskById(failed.id)).toBeNull();
      const retried = await runTaskById(failed.id, { allowRetry: true, workerId: "retry-worker" });
      expect(retried?.status).toBe("FAILED");
      const stored = await failed.refresh();
      expect(stored.attempts).toBe(2);
      expect(stored.errors).toHaveLength(2);
      expect(stored.workerIds.at(-1)).toBe("retry-worker");
      expect(stored.startedAt!.getTime()).toBeLessThanOrEqual(stored.lastAttemptedAt!.getTime());

      await expect(runTaskById("00000000-0000-4000-8000-000000000000")).rejects.toBeInstanceOf(TaskResultDoesNotExistError);
      await expect(runTaskById("not-a-uuid")).rejects.toBeInstanceOf(TaskResultDoesNotExistError);
    });

    it("runTaskById never runs one task twice when called concurrently", async () => {
      const enqueued = await record.enqueue("once");
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => runTaskById(enqueued.id)));
      expect(outcomes.filter((o) => o !== null)).toHaveLength(1);
      expect(calls).toEqual(["once"]);
    });

    it("retries a failing task up to maxAttempts, with a delay", async () => {
      setFlakyFailures(1);
      const enqueued = await flaky.enqueue();
      const first = await processOneTask();
      expect(first?.status).toBe("READY");
      const afterFirst = await enqueued.refresh();
      expect(afterFirst.status).toBe("READY");
      expect(afterFirst.errors).toHaveLength(1);
      expect(afterFirst.finishedAt).toBeNull();
      expect(await getPendingTaskCount()).toBe(0); // backing off
      await (await knex())(TASK_TABLE).where({ id: enqueued.id }).update({ available_at: (await knex()).raw("enqueued_at") });
      expect((await processOneTask())?.status).toBe("SUCCESSFUL");
      const done = await enqueued.refresh();
      expect(done.attempts).toBe(2);
      expect(done.returnValue).toBe("finally");
    });

    it("fails an attempt that outlives the task's timeout, and aborts its signal", async () => {
      const quick = await sleeper.enqueue(10);
      const slow = await sleeper.enqueue(5_000);
      const started = Date.now();
      await processTasks();
      expect(Date.now() - started).toBeLessThan(4_000);
      expect((await quick.refresh()).status).toBe("SUCCESSFUL");
      const timedOut = await slow.refresh();
      expect(timedOut.status).toBe("FAILED");
      expect(timedOut.errors[0]).toMatchObject({ errorClass: "TaskTimeoutError" });
      expect(timedOut.errors[0].message).toContain("timeout of 0.3 s");
      expect(aborted).toContain(slow.id);
    });

    it("retries after an exponential backoff with jitter, measured on a controlled clock", async () => {
      const base = new Date("2031-01-01T00:00:00.000Z");
      vi.useFakeTimers({ toFake: ["Date"], now: base });
      try {
        setFlakyFailures(2);
        const enqueued = await flaky.enqueue();
        // Attempt 1 fails: the retry is due 0.5..1 s later.
        expect((await processOneTask())?.status).toBe("READY");
        const row = async () => (await knex())(TASK_TABLE).where({ id: enqueued.id }).first();
        const due1 = (dialect === "sqlite" ? Number((await row()).available_at) : new Date((await row()).available_at).getTime()) - base.getTime();
        expect(due1).toBeGreaterThanOrEqual(500);
        expect(due1).toBeLessThanOrEqual(1000);
        vi.setSystemTime(base.getTime() + due1 - 1);
        expect(await processOneTask()).toBeNull(); // not yet
        vi.setSystemTime(base.getTime() + due1);
        // Attempt 2 fails: the next delay doubles (1..2 s).
        expect((await processOneTask())?.status).toBe("READY");
        const now2 = Date.now();
        const due2 = (dialect === "sqlite" ? Number((await row()).available_at) : new Date((await row()).available_at).getTime()) - now2;
        expect(due2).toBeGreaterThanOrEqual(1000);
        expect(due2).toBeLessThanOrEqual(2000);
        vi.setSystemTime(now2 + due2);
        expect((await processOneTask())?.status).toBe("SUCCESSFUL");
        expect((await enqueued.refresh()).attempts).toBe(3);
      } finally {
        vi.useRealTimers();
      }
    });

    it("puts back a task whose worker stopped renewing its lease, and records the lost attempt", async () => {
      const enqueued = await record.enqueue("survivor");
      const runtime = await getRuntime();
      const past = new Date(Date.now() - 60_000);
      const [claimed] = await runtime.storage().taskClaim({
        backendName: "default",
        limit: 1,
        workerId: "dead-worker",
        now: new Date(),
        lockedUntil: past,
      });
      expect(claimed.id).toBe(enqueued.id);
      expect((await enqueued.refresh()).status).toBe("RUNNING");
      expect(await recoverLostTasks()).toBe(1);
      const recovered = await enqueued.refresh();
      expect(recovered.status).toBe("READY");
      expect(recovered.errors[0]).toMatchObject({ errorClass: "WorkerLost" });
      expect(recovered.errors[0].message).toContain("dead-worker");
      const ran = await processOneTask({ workerId: "live-worker" });
      expect(ran?.status).toBe("SUCCESSFUL");
      expect((await enqueued.refresh()).workerIds).toEqual(["dead-worker", "live-worker"]);
    });

    it("a worker recovers expired leases on its own before claiming", async () => {
      const enqueued = await record.enqueue("orphan");
      const runtime = await getRuntime();
      await runtime.storage().taskClaim({
        backendName: "default",
        limit: 1,
        workerId: "dead-worker",
        now: new Date(),
        lockedUntil: new Date(Date.now() - 1000),
      });
      expect((await processOneTask())?.id).toBe(enqueued.id);
      expect((await enqueued.refresh()).status).toBe("SUCCESSFUL");
    });

    it("does not recover a task whose lease is still valid", async () => {
      await record.enqueue("held");
      const runtime = await getRuntime();
      await runtime.storage().taskClaim({
        backendName: "default",
        limit: 1,
        workerId: "alive",
        now: new Date(),
        lockedUntil: new Date(Date.now() + 60_000),
      });
      expect(await recoverLostTasks()).toBe(0);
    });

    it("purges finished tasks by status, age, backend, in batches, with a dry run", async () => {
      const ok = await add.enqueueMany([[1, 1], [2, 2], [3, 3]]);
      const bad = await failing.enqueue("x");
      const other = await add.using({ backend: "other" }).enqueue(9, 9);
      await processTasks();
      await processTasks({ backendName: "other" });
      const pending = await record.enqueue("still-ready");
      const db = await knex();
      // Make one task finished 10 days ago.
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
      const encoded = dialect === "sqlite" ? tenDaysAgo.getTime() : tenDaysAgo;
      await db(TASK_TABLE).where({ id: ok[0].id }).update({ finished_at: encoded });

      expect(await purgeCompletedTasks({ days: 7, dryRun: true })).toMatchObject({ count: 1, deleted: 0, dryRun: true });
      expect(await purgeCompletedTasks({ statuses: ["failed"], dryRun: true })).toMatchObject({ count: 1 });
      expect(await purgeCompletedTasks({ backendName: "other" })).toMatchObject({ count: 1, deleted: 1 });
      const batches: number[] = [];
      const purged = await purgeCompletedTasks({ batchSize: 2, onBatch: (n) => batches.push(n) });
      expect(purged).toMatchObject({ count: 4, deleted: 4, dryRun: false });
      expect(batches).toEqual([2, 4]);
      await expect(add.getResult(bad.id)).rejects.toBeInstanceOf(TaskResultDoesNotExistError);
      await expect(add.getResult(other.id)).rejects.toBeInstanceOf(TaskResultDoesNotExistError);
      expect((await pending.refresh()).status).toBe("READY");
      await expect(purgeCompletedTasks({ days: -1 })).rejects.toThrow("days must be a whole number >= 0");
      await expect(purgeCompletedTasks({ statuses: ["READY"] })).rejects.toThrow("No valid statuses specified");
    });

    it("emits taskEnqueued, taskStarted and taskFinished; a throwing listener breaks nothing", async () => {
      const seen: string[] = [];
      const onEnqueued = (r: TaskResult) => seen.push(`enqueued:${r.status}`);
      const onStarted = (r: TaskResult) => seen.push(`started:${r.status}`);
      const onFinished = (r: TaskResult) => seen.push(`finished:${r.status}`);
      const broken = () => {
        throw new Error("listener bug");
      };
      const errors: unknown[] = [];
      const previous = events.onListenerError;
      events.onListenerError = (_event, error) => errors.push(error);
      events.on("taskEnqueued", onEnqueued).on("taskStarted", onStarted).on("taskFinished", onFinished).on("taskStarted", broken);
      try {
        const enqueued = await add.enqueue(1, 1);
        await processOneTask();
        expect(seen).toEqual(["enqueued:READY", "started:RUNNING", "finished:SUCCESSFUL"]);
        expect(errors).toHaveLength(1);
        expect((await enqueued.refresh()).status).toBe("SUCCESSFUL");
      } finally {
        events.off("taskEnqueued", onEnqueued).off("taskStarted", onStarted).off("taskFinished", onFinished).off("taskStarted", broken);
        events.onListenerError = previous;
      }
    });

    it("concurrent in-process claimers never take the same task", async () => {
      await record.enqueueMany(Array.from({ length: 200 }, (_, i) => [`t${i}`]));
      const runs = await Promise.all(Array.from({ length: 4 }, (_, i) => processTasks({ workerId: `w${i}` })));
      expect(runs.flat()).toHaveLength(200);
      expect(new Set(calls).size).toBe(200);
      expect(calls).toHaveLength(200);
    });
  });
}
