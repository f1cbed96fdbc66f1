/**
 * Database connections cut mid-drain: continuous workers ride it out and the
 * drain completes, nothing lost; enqueues made during the cuts either succeed
 * or fail with an error, never leaving part of a batch behind.
 *
 * The database servers are shared with other test runs, so they are not
 * stopped: every connection to this test's own database is cut instead
 * (pg_terminate_backend on PostgreSQL, KILL CONNECTION on MariaDB), which is
 * what clients see when the server restarts.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { configure, getRuntime } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { logRun } from "../fixtures/tasks.ts";
import { databaseAvailable } from "../helpers/databases.ts";
import { CLAIM_MODE_RUNS, claimModeArgs, cutConnections, looping, lostWorker, quiet, readRuns, report, sleep, startWorker, statusCounts, taskRows, waitFor, type WorkerProcess, useChaosDatabase } from "./helpers.ts";

const INITIAL: Record<"postgres" | "mysql", number> = { postgres: 3000, mysql: 1500 };
const WORKERS = 3;
const CUTS = 3;
const CUT_EVERY_MS = 1500;
const BATCH = 20;
const ENQUEUERS = 3;
const LEASE_SECONDS = 3;

// With `--claim-mode lock` a cut connection ends the transaction of the batch it held: those tasks run again,
// and the earlier runs leave no trace in the record but the log (see CLAIM_MODE_RUNS).
for (const { dialect, claimMode } of CLAIM_MODE_RUNS) {
  const available = await databaseAvailable(dialect);
  const label = `${dialect}${claimMode === "lock" ? "/lock" : ""}`;
  describe.skipIf(!available)(`database connections cut mid-drain on ${dialect}${claimMode === "lock" ? " with --claim-mode lock" : ""}`, () => {
    const setup = useChaosDatabase(dialect, LEASE_SECONDS);

    it(`${CUTS} cuts: workers ride them out, the drain completes, enqueues are all or nothing`, async () => {
      let knex = (await getRuntime()).storage().knex;
      const log = path.join(setup.project.dir, "runs.log");
      await logRun.enqueueMany(Array.from({ length: INITIAL[dialect] }, () => [5] as [number]));

      const workers: WorkerProcess[] = Array.from({ length: WORKERS }, () =>
        startWorker(["--continuous", "--concurrency", "4", "--interval", "0.2", ...claimModeArgs(claimMode)], {
          cwd: setup.project.dir,
          env: { RUN_LOG: log },
        }),
      );
      await Promise.all(workers.map((w) => w.id));
      const started = Date.now();

      // Enqueues keep coming while the connections are cut; each batch has a queue of its own, to count its rows.
      let enqueuing = true;
      let batches = 0;
      const succeeded = new Map<string, string[]>();
      const failed = new Map<string, Error>();
      const enqueuers = Array.from({ length: ENQUEUERS }, async () => {
        while (enqueuing) {
          const queueName = `enq-${batches++}`;
          try {
            const results = await logRun.using({ queueName }).enqueueMany(Array.from({ length: BATCH }, () => [5] as [number]));
            succeeded.set(queueName, results.map((r) => r.id));
          } catch (error) {
            failed.set(queueName, error as Error);
          }
          await sleep(30);
        }
      });

      const cuts: number[] = [];
      for (let i = 0; i < CUTS; i++) {
        await sleep(CUT_EVERY_MS);
        cuts.push(await cutConnections(setup.db));
      }
      await sleep(1000);
      enqueuing = false;
      await Promise.all(enqueuers);

      // Our own pool was cut too: a poll may fail once.
      const pending = async () => {
        try {
          const counts = await statusCounts(knex, TASK_TABLE);
          return (counts.READY ?? 0) + (counts.RUNNING ?? 0);
        } catch {
          return -1;
        }
      };
      await waitFor("the drain to complete", async () => (await pending()) === 0, 120_000, 200);
      const drainMs = Date.now() - started;
      await Promise.all(workers.map((w) => looping(w)));
      for (const worker of workers) worker.kill("SIGTERM");
      const finals = await Promise.all(workers.map((w) => w.result));
      expect(finals.map((r) => r.code)).toEqual(workers.map(() => 0));

      // Fresh connections for the checks: the pool's idle ones may have been cut.
      configure({ database: setup.db.url, logger: quiet });
      knex = (await getRuntime()).storage().knex;

      // Every task SUCCESSFUL, every one ran; more than once only where the record shows a lost attempt.
      const rows = await taskRows(knex, TASK_TABLE);
      const runs = readRuns(log);
      const ids = new Set(workers.map((w) => w.workerId));
      let duplicates = 0;
      const unexplained: string[] = [];
      for (const row of rows) {
        const ran = runs.get(row.id) ?? [];
        const lostBy = row.errors.map(lostWorker).filter((w) => w !== null);
        if (ran.length > 1) duplicates++;
        const ok =
          claimMode === "lock"
            ? row.status === "SUCCESSFUL" &&
              ran.length >= 1 &&
              row.attempts === 1 &&
              row.errors.length === 0 &&
              row.workerIds.length === 1 &&
              ran.at(-1) === row.workerIds[0] &&
              ids.has(row.workerIds[0])
            : row.status === "SUCCESSFUL" &&
          ran.length >= 1 &&
          row.errors.every((e) => e.errorClass === "WorkerLost") &&
          ran.slice(0, -1).every((w) => lostBy.includes(w)) &&
          ran.at(-1) === row.workerIds.at(-1) &&
          row.workerIds.every((w) => ids.has(w));
        if (!ok) unexplained.push(JSON.stringify({ ...row, ran }));
      }

      // Enqueues during the cuts: all or nothing per batch.
      const perQueue = new Map<string, number>();
      const grouped = (await knex(TASK_TABLE).where("queue_name", "like", "enq-%").select("queue_name").count({ n: "*" }).groupBy("queue_name")) as Array<{
        queue_name: string;
        n: number | string;
      }>;
      for (const row of grouped) perQueue.set(row.queue_name, Number(row.n));
      const halfWritten = [...perQueue].filter(([, n]) => n !== BATCH);
      const succeededButMissing = [...succeeded].filter(([q, taskIds]) => perQueue.get(q) !== taskIds.length);
      // A batch whose COMMIT landed but whose acknowledgement was cut: stored, though the caller saw an error.
      const failedButStored = [...failed.keys()].filter((q) => perQueue.has(q));
      const short = (m: string) => (m.length > 300 ? `${m.slice(0, 120)} [...] ${m.slice(-160)}` : m);
      const errorMessages = [...new Set([...failed.values()].map((e) => `${e.constructor.name}: ${short(e.message)}`))];
      // The driver's message as knex formats it quotes the statement, on MariaDB with the values (task ids, arguments) inlined.
      const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
      const errorsQuotingValues = [...failed.values()].filter((e) => uuid.test(e.message)).length;

      // One line when the database goes away, one when it is back, per outage and worker.
      const lines = (w: WorkerProcess, text: string) => w.stderr().split("\n").filter((l) => l.includes(text)).length;
      const down = workers.map((w) => lines(w, "Database unavailable"));
      const up = workers.map((w) => lines(w, "Database reachable again"));
      const otherLines = workers.flatMap((w) =>
        w.stderr().split("\n").filter((l) => l.startsWith("[database-task]") && !/Database unavailable|Database reachable again/.test(l)),
      );
      const otherKinds = [...new Set(otherLines.map((l) => l.replace(/^\[database-task\] (\w+) ([^=]*?)( \w+=.*)?$/, "$1 $2")))];

      report(`connection-cuts/${label}`, {
        tasks: rows.length,
        cuts: CUTS,
        connectionsCut: cuts.join("+"),
        enqueueBatches: batches,
        enqueueOk: succeeded.size,
        enqueueFailed: failed.size,
        failedButStored: failedButStored.length,
        errorsQuotingValues,
        halfWritten: halfWritten.length,
        outagesLoggedPerWorker: down.join("/"),
        duplicates,
        losses: rows.filter((r) => r.status !== "SUCCESSFUL").length,
        drainSeconds: (drainMs / 1000).toFixed(1),
      });
      if (errorMessages.length) console.log(`[chaos] connection-cuts/${label} enqueue errors: ${JSON.stringify(errorMessages)}`);
      for (const q of failedButStored) {
        console.log(`[chaos] connection-cuts/${label} batch ${q}: all ${perQueue.get(q)} rows stored, yet enqueue rejected: ${short(failed.get(q)!.message)}`);
      }
      if (otherKinds.length) console.log(`[chaos] connection-cuts/${label} other worker log lines: ${JSON.stringify(otherKinds)}`);

      expect(rows.length).toBe(INITIAL[dialect] + BATCH * (batches - failed.size + failedButStored.length));
      expect(rows.filter((r) => r.status !== "SUCCESSFUL")).toEqual([]);
      expect(unexplained.slice(0, 5)).toEqual([]);
      expect(halfWritten).toEqual([]);
      expect(succeededButMissing).toEqual([]);
      for (const error of failed.values()) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error & { code?: string }).code).toBe("STORAGE");
        expect(error.message).toMatch(/^Could not enqueue "fixtures\.logRun": (?!insert)[^]*the 20 tasks; if the connection was lost/);
        expect((error as Error & { taskIds?: string[] }).taskIds).toHaveLength(20);
      }
      // Each outage is logged once when it starts and once when it ends, never a flood. A cut usually
      // shows as one outage; on MariaDB the pool may then hand out its second, already-dead connection,
      // which shows as a second outage of a few milliseconds: at most one per pooled connection.
      for (let i = 0; i < WORKERS; i++) {
        const log = `${workers[i].workerId}:\n${workers[i].stderr()}`;
        expect(down[i], log).toBeLessThanOrEqual(2 * CUTS);
        expect(up[i], log).toBe(down[i]);
      }
      expect(otherLines.length).toBeLessThanOrEqual(WORKERS * CUTS * 4);
      expect(cuts.every((n) => n > 0)).toBe(true);
    });
  });
}
