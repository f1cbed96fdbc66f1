/**
 * The maintenance pass of the Cloud Tasks backend against the emulator, over
 * real HTTP (POST /tasks/maintain/ with the emulator's OIDC tokens) and real
 * PostgreSQL: what it does with tasks whose Cloud Task is gone, still there,
 * never created, or not yet within Cloud Tasks' 30-day reach; that concurrent
 * passes create no duplicates; and the checks made before anything is stored.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getBackend, getRuntime, InvalidTaskError, maintainTasks, type TaskResult } from "../../src/index.ts";
import { cloudTaskId, CloudTasksDatabaseBackend } from "../../src/cloudtasks/index.ts";
import { startEmulator, type RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { startServer, type RunningServer } from "../../src/http/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { newTaskId } from "../../src/storage/task-id.ts";
import { cloudTasksTestConfig, TEST_INVOKER, TEST_LOCATION, TEST_PROJECT } from "../helpers/cloudtasks.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";
import { cloudCalls, cloudEcho } from "./fixtures/backend-tasks.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const available = await databaseAvailable("postgres");
const PAUSED = "held";

describe.skipIf(!available)("Cloud Tasks maintenance pass", () => {
  let db: TestDatabase;
  let emulator: RunningEmulator;
  let server: RunningServer;

  const configureFor = (extra: Record<string, unknown> = {}) =>
    configure(cloudTasksTestConfig({ database: db.url, emulator, handlerOrigin: server.url, extra: { verifyAfterSeconds: 0.2, ...extra } }));
  const backend = async () => (await getBackend()) as CloudTasksDatabaseBackend;
  const knex = async () => (await getRuntime()).storage().knex;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** The Cloud Tasks the emulator holds in a queue, by their short id. */
  const cloudTasksIn = async (queue: string) => {
    const client = (await backend()).client();
    const [tasks] = await client.listTasks({ parent: client.queuePath(TEST_PROJECT, TEST_LOCATION, queue) });
    return tasks.map((t) => t.name!.split("/").pop()!).sort();
  };
  const maintain = (body: unknown = {}, authorization = `Bearer ${emulator.signIdToken({ serviceAccountEmail: TEST_INVOKER, audience: new URL(server.url).origin })}`) =>
    fetch(`${server.url}/tasks/maintain/`, { method: "POST", headers: { authorization, "content-type": "application/json" }, body: JSON.stringify(body) });
  /** Tasks enqueued into a paused queue: their Cloud Tasks exist and stay put until deleted. */
  const enqueueHeld = async (n: number) => Promise.all(Array.from({ length: n }, (_, i) => cloudEcho.using({ queueName: PAUSED }).enqueue(`held-${i}`)));
  const deleteCloudTasks = async (ids: string[], generation = 0) => {
    const client = (await backend()).client();
    for (const id of ids) await client.deleteTask({ name: client.taskPath(TEST_PROJECT, TEST_LOCATION, PAUSED, cloudTaskId(id, generation)) });
  };

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    emulator = await startEmulator();
    server = await startServer({ port: 0, host: "127.0.0.1", handleSignals: false, logger: quiet });
    configureFor();
    await (await getRuntime()).storage().migrate();
    const client = (await backend()).client();
    await client.createQueue({ parent: client.locationPath(TEST_PROJECT, TEST_LOCATION), queue: { name: client.queuePath(TEST_PROJECT, TEST_LOCATION, PAUSED) } });
    await client.pauseQueue({ name: client.queuePath(TEST_PROJECT, TEST_LOCATION, PAUSED) });
  });

  afterEach(async () => {
    configureFor();
    cloudCalls.length = 0;
    const client = (await backend()).client();
    await client.purgeQueue({ name: client.queuePath(TEST_PROJECT, TEST_LOCATION, PAUSED) });
    await (await knex())(TASK_TABLE).delete();
  });

  afterAll(async () => {
    await server?.stop(1000);
    await emulator?.stop();
    await close();
    await db?.drop();
  });

  it("names each Cloud Task with a hashed prefix, deterministic for (task id, generation)", async () => {
    const [result] = await enqueueHeld(1);
    expect(await cloudTasksIn(PAUSED)).toEqual([cloudTaskId(result.id, 0)]);
    expect(cloudTaskId(result.id, 0)).toMatch(new RegExp(`^[0-9a-f]{8}-${result.id}-0$`));
    expect(cloudTaskId(result.id, 0)).toBe(cloudTaskId(result.id, 0));
    expect(cloudTaskId(result.id, 1).slice(0, 8)).not.toBe(cloudTaskId(result.id, 0).slice(0, 8));
  });

  it("re-creates, under a new name, the Cloud Task of a READY task that Cloud Tasks no longer holds; leaves the others", async () => {
    const results = await enqueueHeld(3);
    const [lost, kept, fresh] = results;
    await deleteCloudTasks([lost.id]);
    await (await knex())(TASK_TABLE).where({ id: fresh.id }).update({ dispatched_at: new Date() }); // just handed over: not looked at
    await sleep(300);
    await (await knex())(TASK_TABLE).where({ id: fresh.id }).update({ dispatched_at: new Date() });
    const reply = await maintain();
    expect(reply.status).toBe(200);
    expect(await reply.json()).toMatchObject({ recovered: 0, backends: { default: { dispatched: 0, confirmed: 1, recreated: 1, failed: 0, errors: 0, complete: true } }, complete: true });
    expect(await cloudTasksIn(PAUSED)).toEqual([cloudTaskId(lost.id, 1), cloudTaskId(kept.id, 0), cloudTaskId(fresh.id, 0)].sort());
    const rows = await (await knex())(TASK_TABLE).orderBy("id").select("id", "status", "dispatch_generation", "dispatched_at");
    expect(rows.map((r: { dispatch_generation: number }) => r.dispatch_generation)).toEqual(results.map((r) => (r === lost ? 1 : 0)));
    expect(rows.every((r: { status: string; dispatched_at: Date | null }) => r.status === "READY" && r.dispatched_at instanceof Date)).toBe(true);
    expect(cloudCalls).toEqual([]);
  });

  it("two passes at once create no duplicate Cloud Tasks", async () => {
    const lost = (await enqueueHeld(6)).map((r) => r.id);
    await deleteCloudTasks(lost);
    // Rows stored two minutes ago by a process that died before it created their Cloud Tasks.
    const storedAt = new Date(Date.now() - 120_000);
    const undispatched = Array.from({ length: 6 }, () => newTaskId(storedAt.getTime()));
    await (await getRuntime()).storage().taskInsertMany(
      undispatched.map((id) => ({
        id,
        taskName: cloudEcho.name,
        queueName: PAUSED,
        backendName: "default",
        priority: 0,
        args: ["stranded"],
        runAfter: null,
        enqueuedAt: storedAt,
        maxAttempts: 1,
      })),
    );
    await sleep(300);
    const replies = await Promise.all([maintain(), maintain(), maintainTasks()]);
    const bodies = (await Promise.all(replies.slice(0, 2).map((r) => (r as Response).json()))) as Array<{ backends: { default: Record<string, number> } }>;
    const passes = [...bodies.map((b) => b.backends.default), (replies[2] as Awaited<ReturnType<typeof maintainTasks>>).backends.default];
    // Each lost task was re-created by exactly one pass (the others lost the race for its new generation);
    // the undispatched ones were handed over by each pass under the same names, which Cloud Tasks deduplicates.
    expect(passes.reduce((n, p) => n + p.recreated, 0)).toBe(6);
    expect(passes.map((p) => p.dispatched)).toEqual([6, 6, 6]);
    expect(passes.every((p) => p.errors === 0)).toBe(true);
    expect(await cloudTasksIn(PAUSED)).toEqual([...lost.map((id) => cloudTaskId(id, 1)), ...undispatched.map((id) => cloudTaskId(id, 0))].sort());
    const rows = await (await knex())(TASK_TABLE).select("id", "dispatch_generation", "dispatched_at");
    for (const row of rows) {
      expect(row.dispatched_at).toBeInstanceOf(Date);
      expect(row.dispatch_generation).toBe(lost.includes(row.id) ? 1 : 0);
    }
  });

  it("a delivery runs a slice of the pass beside its task, at most every 30 s per process", async () => {
    const storage = (await getRuntime()).storage();
    const strand = async () => {
      // Stored two minutes ago by a process that died before creating its Cloud Task.
      const storedAt = new Date(Date.now() - 120_000);
      const id = newTaskId(storedAt.getTime());
      await storage.taskInsertMany([
        { id, taskName: cloudEcho.name, queueName: PAUSED, backendName: "default", priority: 0, args: ["stranded"], runAfter: null, enqueuedAt: storedAt, maxAttempts: 1 },
      ]);
      return id;
    };
    // The delivery's answer (what the emulator waits for) comes once the slice beside the task has ended;
    // the row is SUCCESSFUL earlier than that.
    const answered = async (result: TaskResult) => {
      const client = (await backend()).client();
      expect((await emulator.waitForTask(client.taskPath(TEST_PROJECT, TEST_LOCATION, result.queueName, cloudTaskId(result.id, 0)))).outcome).toBe("succeeded");
      expect((await result.refresh()).status).toBe("SUCCESSFUL");
    };
    const first = await strand();
    await answered(await cloudEcho.enqueue("delivery 1"));
    expect(await cloudTasksIn(PAUSED)).toEqual([cloudTaskId(first, 0)]);
    // Within 30 s, another delivery does not run the pass again.
    const second = await strand();
    await answered(await cloudEcho.enqueue("delivery 2"));
    expect(await cloudTasksIn(PAUSED)).toEqual([cloudTaskId(first, 0)]);
    expect((await (await knex())(TASK_TABLE).where({ id: second }).first("dispatched_at")).dispatched_at).toBeNull();
    expect(cloudCalls).toEqual(["echo:delivery 1", "echo:delivery 2"]);
  });

  it('with lostCloudTask: "fail", marks such a task FAILED with a CloudTaskLost error instead', async () => {
    configureFor({ lostCloudTask: "fail" });
    const [lost] = await enqueueHeld(1);
    await deleteCloudTasks([lost.id]);
    await sleep(300);
    const summary = await maintainTasks();
    expect(summary.backends.default).toMatchObject({ recreated: 0, failed: 1, errors: 0 });
    await lost.refresh();
    expect(lost.status).toBe("FAILED");
    expect(lost.finishedAt).toBeInstanceOf(Date);
    expect(lost.errors.map((e) => e.errorClass)).toEqual(["CloudTaskLost"]);
    expect(lost.errors[0].message).toContain('lostCloudTask is "fail"');
    expect(await cloudTasksIn(PAUSED)).toEqual([]);
    // A retry from the admin (or retryFailed) hands it over again, under a new name.
    expect(await (await backend()).retryFailed([lost.id])).toEqual([lost.id]);
    expect(await cloudTasksIn(PAUSED)).toEqual([cloudTaskId(lost.id, 1)]);
  });

  it("stores a task due beyond Cloud Tasks' 30 days without a Cloud Task, and the pass creates it once it is within reach", async () => {
    const runAfter = new Date(Date.now() + 40 * 86_400_000);
    const far = await cloudEcho.using({ queueName: PAUSED, runAfter }).enqueue("far");
    expect(await cloudTasksIn(PAUSED)).toEqual([]);
    expect(await (await knex())(TASK_TABLE).where({ id: far.id }).first("status", "dispatched_at")).toEqual({ status: "READY", dispatched_at: null });
    expect((await maintainTasks()).backends.default.dispatched).toBe(0);
    // Eleven days later: due in 29 days.
    const due = new Date(Date.now() + 29 * 86_400_000);
    await (await knex())(TASK_TABLE).where({ id: far.id }).update({ available_at: due, enqueued_at: new Date(Date.now() - 11 * 86_400_000) });
    expect((await maintainTasks()).backends.default.dispatched).toBe(1);
    const client = (await backend()).client();
    const [cloudTask] = await client.getTask({ name: client.taskPath(TEST_PROJECT, TEST_LOCATION, PAUSED, cloudTaskId(far.id, 0)) });
    expect(Number(cloudTask.scheduleTime!.seconds)).toBe(Math.floor(due.getTime() / 1000));
  });

  it("refuses a queue name Cloud Tasks cannot take before storing anything", async () => {
    for (const queueName of ["my_queue", "a".repeat(101), "émails"]) {
      const error = await cloudEcho.using({ queueName }).enqueue("x").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidTaskError);
      expect((error as Error).message).toContain("cannot be a Cloud Tasks queue id (letters, digits and hyphens, at most 100 characters)");
    }
    expect(await (await knex())(TASK_TABLE).count({ n: "*" }).first()).toEqual({ n: "0" });
  });

  it("POST /tasks/maintain/ requires the invoker's OIDC token like execute; runs nothing without it", async () => {
    const [lost] = await enqueueHeld(1);
    await deleteCloudTasks([lost.id]);
    await sleep(300);
    const audience = new URL(server.url).origin;
    expect((await maintain({}, "")).status).toBe(401);
    expect((await maintain({}, "Bearer not.a.jwt")).status).toBe(401);
    expect((await maintain({}, `Bearer ${emulator.signIdToken({ serviceAccountEmail: TEST_INVOKER, audience: "https://elsewhere.example" })}`)).status).toBe(401);
    expect((await maintain({}, `Bearer ${emulator.signIdToken({ serviceAccountEmail: "intruder@evil.iam.gserviceaccount.com", audience })}`)).status).toBe(403);
    expect(await cloudTasksIn(PAUSED)).toEqual([]);
    expect((await (await knex())(TASK_TABLE).where({ id: lost.id }).first("dispatch_generation")).dispatch_generation).toBe(0);
    const ok = await maintain({ backend_name: "default", limit: 5 });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ backends: { default: { recreated: 1 } } });
  });
});
