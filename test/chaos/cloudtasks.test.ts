/**
 * Cloud Tasks unreachable during a burst of enqueues: the emulator is stopped
 * part-way through, then started again on the same ports with the same
 * signing key. Enqueues made while it is down reject with
 * CloudTasksDispatchError and leave their rows READY and marked not
 * dispatched; once it is back, `dispatchPendingTasks()` (first round) or the
 * handler's own periodic sweep (second round) hands them over. Every task ends
 * SUCCESSFUL and the handler runs none twice.
 *
 * The emulator keeps its queues in memory, so Cloud Tasks it had accepted but
 * not yet delivered when stopped die with it, where the real service would keep
 * them. The test stands in for that durability by handing those to the new
 * emulator itself (`carriedOver` in the figures); they are not what is tested.
 */
import { generateKeyPairSync } from "node:crypto";
import { afterEach, beforeAll, afterAll, describe, expect, it } from "vitest";
import { close, configure, getBackend, getRuntime } from "../../src/index.ts";
import { cloudTaskId, CloudTasksDatabaseBackend, CloudTasksDispatchError, dispatchPendingTasks } from "../../src/cloudtasks/index.ts";
import { startEmulator, type RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { startServer, type RunningServer } from "../../src/http/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";
import { counted, executions } from "./fixtures/counted.ts";
import { cloudTasksTestConfig, TEST_LOCATION, TEST_PROJECT } from "../helpers/cloudtasks.ts";
import { quiet, report, sleep, waitFor } from "./helpers.ts";
import { freePort } from "./push-helpers.ts";

const PROJECT = TEST_PROJECT;
const LOCATION = TEST_LOCATION;
const TOTAL = 150;
/** The emulator stops once this many enqueues have succeeded; it stays down until the burst is over. */
const STOP_AFTER = 50;
const PARALLEL = 50;
const TASK_MS = 20;

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("Cloud Tasks emulator stopped during a burst of enqueues", () => {
  const signingKeyPem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  let db: TestDatabase;
  let emulator: RunningEmulator | null = null;
  let server: RunningServer | null = null;

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
  });

  afterEach(async () => {
    await server?.stop(1000);
    server = null;
    await emulator?.stop();
    emulator = null;
    await close();
  });

  afterAll(async () => {
    await db?.drop();
  });

  for (const recovery of ["dispatchPendingTasks", "handler sweep"] as const) {
    it(`every task ends SUCCESSFUL, none runs twice; the undispatched are handed over by ${recovery}`, async () => {
      emulator = await startEmulator({ signingKeyPem });
      const ports = { port: emulator.port, certsPort: Number(new URL(emulator.certsUrl).port) };
      const handlerPort = await freePort();
      configure(
        cloudTasksTestConfig({
          database: db.url,
          emulator,
          handlerOrigin: `http://127.0.0.1:${handlerPort}`,
          // The handler's sweep: every second in the second round; idle in the first.
          extra: { redispatchAfterSeconds: recovery === "handler sweep" ? 1 : 3600 },
        }),
      );
      const storage = (await getRuntime()).storage();
      await storage.migrate();
      await storage.knex(TASK_TABLE).delete();
      executions.clear();
      server = await startServer({ port: handlerPort, host: "127.0.0.1", handleSignals: false, logger: quiet });
      const backend = (await getBackend()) as CloudTasksDatabaseBackend;

      // The burst: PARALLEL enqueues at a time; the emulator goes down after STOP_AFTER have succeeded.
      const enqueued: string[] = [];
      const rejected: unknown[] = [];
      let next = 0;
      let stopped: Promise<void> | null = null;
      let outageStart = 0;
      const enqueuer = async () => {
        while (next < TOTAL) {
          next++;
          try {
            const result = await counted.enqueue(TASK_MS);
            enqueued.push(result.id);
            if (enqueued.length === STOP_AFTER) {
              outageStart = Date.now();
              stopped = emulator!.stop();
            }
          } catch (error) {
            rejected.push(error);
          }
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, enqueuer));
      await stopped;
      const burstMs = Date.now() - outageStart;

      // Each failed enqueue rejected with CloudTasksDispatchError and left its row READY, not dispatched.
      expect(rejected.length).toBeGreaterThan(0);
      for (const error of rejected) expect(error).toBeInstanceOf(CloudTasksDispatchError);
      const failedIds = rejected.flatMap((e) => (e as CloudTasksDispatchError).taskIds);
      expect(failedIds).toHaveLength(rejected.length);
      const failedRows = await storage.knex(TASK_TABLE).whereIn("id", failedIds).select("status", "dispatched_at");
      expect(failedRows).toHaveLength(failedIds.length);
      expect(failedRows.every((r: { status: string; dispatched_at: unknown }) => r.status === "READY" && r.dispatched_at === null)).toBe(true);
      expect(await storage.knex(TASK_TABLE).count({ n: "*" }).first()).toEqual({ n: String(TOTAL) });

      // Back on the same ports, with the same key: the handler's configuration is unchanged.
      emulator = await startEmulator({ ...ports, signingKeyPem });
      const restartedAt = Date.now();

      // Stand-in for Cloud Tasks' durability: what the stopped emulator had accepted but not delivered.
      const client = backend.client();
      const heldByOld = await storage
        .knex(TASK_TABLE)
        .where({ status: "READY" })
        .whereNotNull("dispatched_at")
        .select("id", "queue_name", "available_at", "dispatch_generation");
      const carried = [];
      for (const row of heldByOld) {
        const name = client.taskPath(PROJECT, LOCATION, row.queue_name, cloudTaskId(row.id, row.dispatch_generation));
        const known = await client.getTask({ name }).then(
          () => true,
          () => emulator!.outcome(name) !== undefined,
        );
        if (!known) {
          carried.push({ id: row.id as string, queueName: row.queue_name as string, availableAt: row.available_at as Date, generation: Number(row.dispatch_generation) });
        }
      }
      await backend.dispatch(carried);

      let redispatched: number;
      if (recovery === "dispatchPendingTasks") {
        const summary = await dispatchPendingTasks();
        expect(summary).toEqual({ default: { dispatched: failedIds.length, failed: 0 } });
        redispatched = summary.default.dispatched;
      } else {
        await waitFor(
          "the sweep to dispatch every row",
          async () => (await storage.knex(TASK_TABLE).whereNull("dispatched_at").count({ n: "*" }).first())?.n === "0",
          20_000,
          100,
        );
        redispatched = failedIds.length;
      }
      const handedOverMs = Date.now() - restartedAt;

      await waitFor(
        "every task to finish",
        async () => (await storage.knex(TASK_TABLE).whereNot({ status: "SUCCESSFUL" }).count({ n: "*" }).first())?.n === "0",
        30_000,
        100,
      );
      const recoveredMs = Date.now() - restartedAt;
      // Let any late duplicate delivery arrive before counting.
      await sleep(500);

      const rows = await storage.knex(TASK_TABLE).select("id", "status", "attempts");
      const runs = rows.map((r: { id: string }) => executions.get(r.id) ?? 0);
      const duplicates = runs.filter((n: number) => n > 1).length;
      const losses = rows.filter((r: { status: string }) => r.status !== "SUCCESSFUL").length + runs.filter((n: number) => n === 0).length;
      report(`cloudtasks-outage/${recovery.replace(" ", "-")}`, {
        enqueues: TOTAL,
        enqueuedOk: enqueued.length,
        rejectedWithDispatchError: rejected.length,
        redispatched,
        carriedOver: carried.length,
        handlerRuns: runs.reduce((a: number, b: number) => a + b, 0),
        duplicates,
        losses,
        outageSeconds: ((restartedAt - outageStart) / 1000).toFixed(1),
        burstAfterStopSeconds: (burstMs / 1000).toFixed(1),
        handOverSeconds: (handedOverMs / 1000).toFixed(1),
        restartToAllSuccessfulSeconds: (recoveredMs / 1000).toFixed(1),
      });
      expect(rows).toHaveLength(TOTAL);
      expect(losses).toBe(0);
      expect(duplicates).toBe(0);
      expect(rows.every((r: { attempts: number }) => Number(r.attempts) === 1)).toBe(true);
    });
  }
});
