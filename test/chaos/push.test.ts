/**
 * The Cloud Tasks push path under the faults a serverless platform produces,
 * end to end: the emulator (real gRPC, real OIDC tokens) delivers to
 * `database-task serve` child processes on PostgreSQL, which are SIGKILLed
 * mid-task and restarted, or are down while Cloud Tasks runs out of attempts.
 * Assertions read the database and the run log the task writes (start and end
 * of each run, with the worker id and pid), not what the API reports.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime } from "../../src/index.ts";
import { cloudTaskId, CloudTasksDatabaseBackend } from "../../src/cloudtasks/index.ts";
import { startEmulator, type RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { TEST_INVOKER, TEST_LOCATION, TEST_PROJECT } from "../helpers/cloudtasks.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";
import { pushed } from "./fixtures/push-tasks.ts";
import { lostWorker, quiet, report, sleep, statusCounts, taskRows, waitFor } from "./helpers.ts";
import { freePort, readRunLog, startBalancer, startHandler, stopHandlers, writePushConfig, type HandlerProcess } from "./push-helpers.ts";

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("Cloud Tasks push path: handlers killed, down, restarted", () => {
  let db: TestDatabase;
  let emulator: RunningEmulator;
  let dir: string;
  let runLog: string;

  /** This process enqueues through the same configuration the handlers load. */
  const useConfig = async (handlerOrigin: string, extra: Record<string, unknown> = {}) => {
    writePushConfig(dir, { database: db.url, emulator, handlerOrigin, extra });
    const { default: config } = await import(`${path.join(dir, "database-task.config.mjs")}?v=${Date.now()}`);
    configure({ ...config, logger: quiet });
  };
  const knex = async () => (await getRuntime()).storage().knex;
  const backend = async () => (await getRuntime()).backend() as CloudTasksDatabaseBackend;

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    emulator = await startEmulator();
    dir = mkdtempSync(path.join(tmpdir(), "database-task-push-"));
    configure({ database: db.url, logger: quiet });
    await (await getRuntime()).storage().migrate();
  });

  afterEach(async () => {
    await stopHandlers();
    await (await knex())(TASK_TABLE).delete();
  });

  afterAll(async () => {
    await stopHandlers();
    await emulator?.stop();
    await close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a handler SIGKILLed mid-task and restarted: the next delivery takes the task over once the lease is out; it ends SUCCESSFUL, run to its end once", async () => {
    runLog = path.join(dir, "kill.log");
    const port = await freePort();
    // Defaults everywhere: the queue's (created on first use, as Cloud Tasks' defaults), the delivery lease (30 s).
    await useConfig(`http://127.0.0.1:${port}`);
    const first = await startHandler(dir, port, runLog);
    const result = await pushed.enqueue(4000);
    await waitFor("the task to start", () => readRunLog(runLog).some((l) => l.what === "start"), 20_000, 20);
    await sleep(1000);
    first.kill("SIGKILL");
    const killedAt = Date.now();
    await first.result;
    const second = await startHandler(dir, port, runLog);
    await waitFor("the task to end SUCCESSFUL", async () => (await result.refresh()).status === "SUCCESSFUL", 150_000, 250);
    const doneAt = Date.now();

    const lines = readRunLog(runLog);
    const starts = lines.filter((l) => l.what === "start");
    const ends = lines.filter((l) => l.what === "end");
    expect(starts.map((l) => l.pid)).toEqual([first.pid, second.pid]);
    // Run to its end exactly once, by the restarted handler, after the kill.
    expect(ends.map((l) => l.pid)).toEqual([second.pid]);
    const [row] = await taskRows(await knex(), TASK_TABLE, { id: result.id });
    expect(row).toMatchObject({ status: "SUCCESSFUL", attempts: 2 });
    expect(row.workerIds).toEqual([starts[0].workerId, starts[1].workerId]);
    // The record names the lost attempt and the worker that lost it.
    expect(row.errors.map((e) => e.errorClass)).toEqual(["WorkerLost"]);
    expect(lostWorker(row.errors[0])).toBe(starts[0].workerId);
    expect(await statusCounts(await knex(), TASK_TABLE)).toEqual({ SUCCESSFUL: 1 });

    // What Cloud Tasks saw: the cut request, then "come back later" (409) while the dead handler's lease held, then 200.
    const name = (await backend()).client().taskPath(TEST_PROJECT, TEST_LOCATION, "default", cloudTaskId(result.id, 0));
    const attempts = emulator.attempts({ taskName: name });
    expect(attempts.at(-1)?.httpStatus).toBe(200);
    expect(attempts.some((a) => a.httpStatus === 409)).toBe(true);
    expect(attempts.filter((a) => a.httpStatus === 200)).toHaveLength(1);
    expect(emulator.outcome(name)?.outcome).toBe("succeeded");
    const takenOver = attempts.find((a) => a.httpStatus === 200)!;
    report("push/handler-killed-mid-task", {
      taskSeconds: 4,
      leaseSeconds: 30,
      deliveries: attempts.length,
      answered409: attempts.filter((a) => a.httpStatus === 409).length,
      killToTakeoverSeconds: ((takenOver.dispatchedAt.getTime() - killedAt) / 1000).toFixed(1),
      killToSuccessfulSeconds: ((doneAt - killedAt) / 1000).toFixed(1),
    });
  });

  it("a handler down while the queue's attempts run out, then up: the maintenance call (as Cloud Scheduler makes it) re-creates the Cloud Task and the task runs once", async () => {
    runLog = path.join(dir, "down.log");
    const port = await freePort();
    await useConfig(`http://127.0.0.1:${port}`, { verifyAfterSeconds: 1 });
    const client = (await backend()).client();
    const queue = client.queuePath(TEST_PROJECT, TEST_LOCATION, "two-tries");
    await client.createQueue({ parent: client.locationPath(TEST_PROJECT, TEST_LOCATION), queue: { name: queue, retryConfig: { maxAttempts: 2 } } });
    const result = await pushed.using({ queueName: "two-tries" }).enqueue(200);
    const first = client.taskPath(TEST_PROJECT, TEST_LOCATION, "two-tries", cloudTaskId(result.id, 0));
    // Nobody listens on the handler's port: both attempts fail and Cloud Tasks gives the task up.
    expect((await emulator.waitForTask(first, { timeoutMs: 30_000 })).outcome).toBe("failed");
    expect(emulator.attempts({ taskName: first })).toHaveLength(2);
    expect((await result.refresh()).status).toBe("READY");
    await sleep(1200); // past verifyAfterSeconds

    const handler = await startHandler(dir, port, runLog);
    // Cloud Scheduler's call: POST with an OIDC token of the invoker account, audience the handler's origin.
    const token = emulator.signIdToken({ serviceAccountEmail: TEST_INVOKER, audience: `http://127.0.0.1:${port}` });
    const reply = await fetch(`http://127.0.0.1:${port}/tasks/maintain/`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(reply.status).toBe(200);
    expect(await reply.json()).toMatchObject({ backends: { default: { recreated: 1, errors: 0 } } });
    const second = client.taskPath(TEST_PROJECT, TEST_LOCATION, "two-tries", cloudTaskId(result.id, 1));
    expect((await emulator.waitForTask(second, { timeoutMs: 30_000 })).outcome).toBe("succeeded");
    await waitFor("SUCCESSFUL", async () => (await result.refresh()).status === "SUCCESSFUL", 10_000);
    // Another pass finds nothing to do; the body ran once, to its end, in the handler.
    expect((await (await fetch(`http://127.0.0.1:${port}/tasks/maintain/`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).json())).toMatchObject({
      recovered: 0,
      backends: { default: { dispatched: 0, recreated: 0, failed: 0 } },
    });
    expect(readRunLog(runLog).map((l) => `${l.what} ${l.taskId} ${l.pid}`)).toEqual([`start ${result.id} ${handler.pid}`, `end ${result.id} ${handler.pid}`]);
    expect(result.attempts).toBe(1);
  });

  it("1,000 tasks into two handlers behind a balancer, one SIGKILLed and restarted every 2 s: every task SUCCESSFUL, repeats only where a killed handler ran it", async () => {
    const TASKS = Number(process.env.CHAOS_PUSH_TASKS ?? 1000);
    const KILLS = Number(process.env.CHAOS_PUSH_KILLS ?? 8);
    const LEASE_SECONDS = 10;
    runLog = path.join(dir, "load.log");
    const ports = [await freePort(), await freePort()];
    const balancer = await startBalancer(ports);
    await useConfig(`http://127.0.0.1:${balancer.port}`, { leaseSeconds: LEASE_SECONDS });
    const client = (await backend()).client();
    // 20 deliveries at a time; backoff from 0.1 s doubling to at most 10 s. (With Cloud Tasks' default
    // maximum of an hour, a task cut by several kills in a row waits minutes for its next delivery:
    // seen here, 119 s after the last kill. The first test shows the defaults.)
    await client.createQueue({
      parent: client.locationPath(TEST_PROJECT, TEST_LOCATION),
      queue: {
        name: client.queuePath(TEST_PROJECT, TEST_LOCATION, "load"),
        rateLimits: { maxConcurrentDispatches: 20 },
        retryConfig: { minBackoff: { nanos: 100e6 }, maxBackoff: { seconds: 10 } },
      },
    });
    const handlers: HandlerProcess[] = [await startHandler(dir, ports[0], runLog), await startHandler(dir, ports[1], runLog)];
    const killed = new Set<number>();
    const started = Date.now();
    const load = pushed.using({ queueName: "load" });
    for (let i = 0; i < TASKS; i += 100) await load.enqueueMany(Array.from({ length: Math.min(100, TASKS - i) }, (_, j) => [150 + ((i + j) % 7) * 50]));

    let kills = 0;
    let lastKillAt = started;
    while (kills < KILLS) {
      await sleep(2000);
      const victim = kills % 2;
      const doomed = handlers[victim];
      doomed.kill("SIGKILL");
      killed.add(doomed.pid);
      lastKillAt = Date.now();
      kills++;
      await doomed.result;
      handlers[victim] = await startHandler(dir, doomed.port, runLog);
    }
    await waitFor("every task to end", async () => (await statusCounts(await knex(), TASK_TABLE)).SUCCESSFUL === TASKS, 150_000, 250).catch(async (error) => {
      const stuck = (await taskRows(await knex(), TASK_TABLE)).filter((r) => r.status !== "SUCCESSFUL").slice(0, 5);
      const seen = stuck.map((r) => emulator.attempts({ taskName: client.taskPath(TEST_PROJECT, TEST_LOCATION, "load", cloudTaskId(r.id, 0)) }).map((a) => `${a.dispatchedAt.toISOString()} ${a.httpStatus ?? a.error}`));
      throw new Error(`${error.message}: ${JSON.stringify(await statusCounts(await knex(), TASK_TABLE))}; e.g. ${JSON.stringify(stuck)}; attempts ${JSON.stringify(seen)}`);
    });
    const doneAt = Date.now();

    const rows = await taskRows(await knex(), TASK_TABLE);
    const lines = readRunLog(runLog);
    const startsByTask = new Map<string, typeof lines>();
    for (const line of lines.filter((l) => l.what === "start")) startsByTask.set(line.taskId, [...(startsByTask.get(line.taskId) ?? []), line]);
    let duplicates = 0;
    let lostAttempts = 0;
    for (const row of rows) {
      const starts = startsByTask.get(row.id) ?? [];
      expect(row.status).toBe("SUCCESSFUL");
      expect(starts.length).toBeGreaterThanOrEqual(1);
      // Every run but the last was in a handler we killed, and each is recorded as a lost attempt naming its worker.
      // (A handler killed between claiming a task and starting its body leaves a lost attempt and no run.)
      for (const earlier of starts.slice(0, -1)) expect(killed.has(earlier.pid)).toBe(true);
      const lost = row.errors.filter((e) => e.errorClass === "WorkerLost").map(lostWorker);
      expect(lost).toEqual(expect.arrayContaining(starts.slice(0, -1).map((s) => s.workerId)));
      expect(row.errors).toHaveLength(lost.length);
      expect(row.attempts).toBe(lost.length + 1);
      expect(row.workerIds.at(-1)).toBe(starts.at(-1)!.workerId);
      if (starts.length > 1) duplicates++;
      lostAttempts += starts.length - 1;
    }
    const losses = rows.filter((r) => r.status !== "SUCCESSFUL").length + rows.filter((r) => !startsByTask.has(r.id)).length;
    // Cloud Tasks never dropped a task before its row was done: no delivery acknowledged work it had not done
    // (the queue has attempts to spare), so the maintenance pass never had to create one anew.
    expect(await (await knex())(TASK_TABLE).where("dispatch_generation", ">", 0).pluck("id")).toEqual([]);
    expect(rows).toHaveLength(TASKS);
    expect(losses).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(1);
    report("push/handlers-killed-under-load", {
      tasks: TASKS,
      kills,
      leaseSeconds: LEASE_SECONDS,
      duplicates,
      lostAttempts,
      losses,
      deliveries: emulator.attempts({ queueName: client.queuePath(TEST_PROJECT, TEST_LOCATION, "load") }).length,
      lastKillToAllSuccessfulSeconds: ((doneAt - lastKillAt) / 1000).toFixed(1),
      totalSeconds: ((doneAt - started) / 1000).toFixed(1),
    });
    await balancer.close();
  });
});
