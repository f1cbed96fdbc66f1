/**
 * The whole Cloud Tasks flow on one machine: the real CloudTasksClient talks
 * gRPC to the emulator, which POSTs to the real handler (express, OIDC
 * verified with google-auth-library against the emulator's certificates),
 * which runs the stored task in a real database.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getBackend, getRuntime, type TaskResult } from "../../src/index.ts";
import { cloudTaskId, CloudTasksDatabaseBackend, CloudTasksDispatchError, dispatchPendingTasks } from "../../src/cloudtasks/index.ts";
import { startEmulator, type RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { startServer, type RunningServer } from "../../src/http/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { cloudTasksTestConfig, TEST_INVOKER, TEST_LOCATION, TEST_PROJECT } from "../helpers/cloudtasks.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";
import { cloudCalls, cloudEcho, cloudFails } from "./fixtures/backend-tasks.ts";

const PROJECT = TEST_PROJECT;
const LOCATION = TEST_LOCATION;
const INVOKER = TEST_INVOKER;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("Cloud Tasks backend against the emulator", () => {
  let db: TestDatabase;
  let emulator: RunningEmulator;
  let server: RunningServer;
  let emulatorPort = 0;

  const configureFor = (extra: Record<string, unknown> = {}) =>
    configure(cloudTasksTestConfig({ database: db.url, emulator, handlerOrigin: server.url, extra }));

  const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const settled = (result: TaskResult) => async () => (await result.refresh()).isFinished;
  const cloudTaskName = (result: TaskResult, generation = 0) =>
    `projects/${PROJECT}/locations/${LOCATION}/queues/${result.queueName}/tasks/${cloudTaskId(result.id, generation)}`;

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    emulator = await startEmulator();
    emulatorPort = emulator.port;
    server = await startServer({ port: 0, host: "127.0.0.1", handleSignals: false, logger: quiet });
    configureFor();
    await (await getRuntime()).storage().migrate();
  });

  afterEach(async () => {
    cloudCalls.length = 0;
    await (await getRuntime()).storage().knex(TASK_TABLE).delete();
  });

  afterAll(async () => {
    await server?.stop(1000);
    await emulator?.stop();
    await close();
    await db?.drop();
  });

  it("enqueue stores the task, Cloud Tasks delivers its id with an OIDC token, the handler runs it", async () => {
    const result = await cloudEcho.enqueue("hello");
    expect(result.status).toBe("READY");
    const outcome = await emulator.waitForTask(cloudTaskName(result));
    expect(outcome.outcome).toBe("succeeded");
    await waitFor("task to finish", settled(result));
    expect(result.status).toBe("SUCCESSFUL");
    expect(result.returnValue).toBe("hello");
    const [attempt] = emulator.attempts({ taskName: cloudTaskName(result) });
    expect(attempt.url).toBe(`${server.url}/tasks/execute/${result.id}/?fail_on_error=true&allow_retry=true`);
    expect(attempt.httpStatus).toBe(200);
    const stored = await (await getRuntime()).storage().knex(TASK_TABLE).where({ id: result.id }).first();
    expect(stored.dispatched_at).toBeInstanceOf(Date);
  });

  it("a failing task answers 500, is retried by Cloud Tasks, and ends FAILED with every attempt recorded", async () => {
    const backend = (await getBackend()) as CloudTasksDatabaseBackend;
    const client = backend.client();
    const queue = client.queuePath(PROJECT, LOCATION, "retrying");
    await client.createQueue({
      parent: client.locationPath(PROJECT, LOCATION),
      queue: { name: queue, retryConfig: { maxAttempts: 3, minBackoff: { nanos: 50e6 }, maxBackoff: { nanos: 100e6 } } },
    });
    const result = await cloudFails.using({ queueName: "retrying" }).enqueue("boom");
    const outcome = await emulator.waitForTask(cloudTaskName(result));
    expect(outcome.outcome).toBe("failed");
    const attempts = emulator.attempts({ taskName: cloudTaskName(result) });
    expect(attempts.map((a) => a.httpStatus)).toEqual([500, 500, 500]);
    await result.refresh();
    expect(result.status).toBe("FAILED");
    expect(result.attempts).toBe(3);
    expect(result.errors).toHaveLength(3);
    expect(cloudCalls.filter((c) => c === "fail:boom")).toHaveLength(3);
  });

  it("does not deliver a task before its runAfter", async () => {
    const runAfter = new Date(Date.now() + 1500);
    const result = await cloudEcho.using({ runAfter }).enqueue("later");
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect((await result.refresh()).status).toBe("READY");
    await waitFor("delayed task", settled(result));
    expect(result.status).toBe("SUCCESSFUL");
    expect(result.startedAt!.getTime()).toBeGreaterThanOrEqual(runAfter.getTime());
  });

  it("inside a transaction, creates the Cloud Task only after commit, and never for a rollback", async () => {
    const knex = (await getRuntime()).storage().knex;
    let rolledBack: TaskResult | undefined;
    await knex
      .transaction(async (trx) => {
        rolledBack = await cloudEcho.using({ transaction: trx }).enqueue("rolled back");
        throw new Error("rollback");
      })
      .catch(() => undefined);
    let committed: TaskResult | undefined;
    await knex.transaction(async (trx) => {
      committed = await cloudEcho.using({ transaction: trx }).enqueue("committed");
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(emulator.attempts({ taskName: cloudTaskName(committed!) })).toHaveLength(0);
    });
    await waitFor("committed task", settled(committed!));
    expect(committed!.status).toBe("SUCCESSFUL");
    expect(emulator.outcome(cloudTaskName(rolledBack!))).toBeUndefined();
    expect(emulator.attempts({ taskName: cloudTaskName(rolledBack!) })).toHaveLength(0);
  });

  it("when Cloud Tasks is down, enqueue rejects clearly, keeps the row READY and undispatched; dispatch delivers it later", async () => {
    await emulator.stop();
    try {
      const error = await cloudEcho.enqueue("while down").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CloudTasksDispatchError);
      expect((error as Error).message).toContain("stored as READY and marked not dispatched");
      const [id] = (error as CloudTasksDispatchError).taskIds;
      const row = await (await getRuntime()).storage().knex(TASK_TABLE).where({ id }).first();
      expect(row).toMatchObject({ status: "READY", dispatched_at: null });
    } finally {
      emulator = await startEmulator({ port: emulatorPort });
    }
    // Same port, so the configured emulatorHost still points at it; certificates changed with the new key.
    configureFor();
    const summary = await dispatchPendingTasks();
    expect(summary.default).toEqual({ dispatched: 1, failed: 0 });
    const [row] = await (await getRuntime()).storage().knex(TASK_TABLE).select("id");
    const result = await (await getBackend()).getResult(row.id);
    await waitFor("re-dispatched task", settled(result));
    expect(result.status).toBe("SUCCESSFUL");
    expect(cloudCalls).toEqual(["echo:while down"]);
  });

  it("refuses deliveries without a valid OIDC token of the configured account, and runs nothing", async () => {
    const result = await (await getBackend()).enqueue(cloudEcho as never, {
      taskName: cloudEcho.name,
      queueName: "paused-never-created",
      priority: 0,
      runAfter: new Date(Date.now() + 3_600_000),
      maxAttempts: 1,
      transaction: null,
      argsList: [["unauthorized"]],
    });
    const url = `${server.url}/tasks/execute/${result[0].id}/`;
    const audience = new URL(server.url).origin;
    const post = (authorization?: string) => fetch(url, { method: "POST", headers: authorization ? { authorization } : {} });
    expect((await post()).status).toBe(401);
    expect((await post("Bearer not.a.jwt")).status).toBe(401);
    expect((await post(`Bearer ${emulator.signIdToken({ serviceAccountEmail: INVOKER, audience: "https://elsewhere.example" })}`)).status).toBe(401);
    const wrongAccount = await post(`Bearer ${emulator.signIdToken({ serviceAccountEmail: "intruder@evil.iam.gserviceaccount.com", audience })}`);
    expect(wrongAccount.status).toBe(403);
    const backendNameBypass = await fetch(`${url}?backend_name=nope`, { method: "POST" });
    expect(backendNameBypass.status).toBe(401);
    expect(cloudCalls).toEqual([]);
    expect((await result[0].refresh()).status).toBe("READY");
    const ok = await post(`Bearer ${emulator.signIdToken({ serviceAccountEmail: INVOKER, audience })}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ executed: true, result: { id: result[0].id, status: "SUCCESSFUL" } });
  });

  it("a duplicate delivery of a SUCCESSFUL task does not run it again", async () => {
    const result = await cloudEcho.enqueue("once");
    await waitFor("task", settled(result));
    const audience = new URL(server.url).origin;
    const again = await fetch(`${server.url}/tasks/execute/${result.id}/?fail_on_error=true&allow_retry=true`, {
      method: "POST",
      headers: { authorization: `Bearer ${emulator.signIdToken({ serviceAccountEmail: INVOKER, audience })}` },
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ executed: false });
    expect(cloudCalls).toEqual(["echo:once"]);
  });

  it("retrying a FAILED task re-dispatches it through Cloud Tasks under a new task name", async () => {
    const backend = (await getBackend()) as CloudTasksDatabaseBackend;
    const client = backend.client();
    await client
      .createQueue({
        parent: client.locationPath(PROJECT, LOCATION),
        queue: { name: client.queuePath(PROJECT, LOCATION, "once"), retryConfig: { maxAttempts: 1 } },
      })
      .catch(() => undefined);
    const result = await cloudFails.using({ queueName: "once" }).enqueue("first");
    await waitFor("failure", settled(result));
    expect(result.status).toBe("FAILED");
    expect(await backend.retryFailed([result.id])).toEqual([result.id]);
    await emulator.waitForTask(cloudTaskName(result, 1));
    await waitFor("retried task", settled(result));
    expect(result.attempts).toBe(2);
    expect(cloudCalls).toEqual(["fail:first", "fail:first"]);
  });
});
