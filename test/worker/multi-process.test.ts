/**
 * Two real worker processes drain one queue: every task must run exactly once,
 * and both processes must take part (the run log and the database say which
 * worker ran which task). This is the claim's promise (SKIP LOCKED on
 * PostgreSQL and MariaDB, a single write statement on SQLite), checked end to
 * end. Each process alone needs seconds for the whole queue, far longer than
 * the other takes to start, so both always get tasks.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { logRun } from "../fixtures/tasks.ts";
import { startCli } from "../helpers/cli.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase, type TestDialect } from "../helpers/databases.ts";
import { makeProject } from "../helpers/project.ts";

const TASKS = 2000;

for (const dialect of ["postgres", "mysql", "sqlite"] as TestDialect[]) {
  const available = await databaseAvailable(dialect);
  describe.skipIf(!available)(`two worker processes on ${dialect}`, () => {
    let db: TestDatabase;
    let project: { dir: string; remove(): void };

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      project = makeProject(db.url);
      configure({ database: db.url, logger: { debug() {}, info() {}, warn() {}, error() {} } });
      await (await getRuntime()).storage().migrate();
    });

    afterAll(async () => {
      await close();
      await db?.drop();
      project?.remove();
    });

    it(`run each of ${TASKS} tasks exactly once`, async () => {
      const enqueued = await logRun.enqueueMany(Array.from({ length: TASKS }, () => [0] as [number]));
      const log = path.join(project.dir, "runs.log");
      const workers = [0, 1].map(() =>
        startCli(["worker", "--concurrency", "4"], { cwd: project.dir, env: { RUN_LOG: log, DATABASE_TASK_LOG_LEVEL: "warn" } }),
      );
      const results = await Promise.all(workers.map((w) => w.result));
      for (const result of results) expect(result.stderr).toBe("");
      expect(results.map((r) => r.code)).toEqual([0, 0]);

      // The run log says which worker ran which task: every task exactly once, and each process ran some.
      const runs = readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" ") as [string, string]);
      const ids = runs.map(([id]) => id);
      expect(ids).toHaveLength(TASKS);
      expect(new Set(ids).size).toBe(TASKS);
      expect(new Set(ids)).toEqual(new Set(enqueued.map((r) => r.id)));
      const workerIds = results.map((r) => /^Worker ID: (\S+)$/m.exec(r.stdout)?.[1]);
      expect(new Set(workerIds).size).toBe(2);
      const processed = results.map((r) => Number(/Total tasks processed: (\d+)/.exec(r.stdout)?.[1]));
      const ranBy = workerIds.map((workerId) => runs.filter(([, ranIn]) => ranIn === workerId).length);
      expect(ranBy).toEqual(processed);
      expect(ranBy[0] + ranBy[1]).toBe(TASKS);
      expect(Math.min(...ranBy)).toBeGreaterThan(0);

      const knex = (await getRuntime()).storage().knex;
      const byStatus = await knex(TASK_TABLE).select("status").count({ n: "*" }).groupBy("status");
      expect(byStatus.map((row: Record<string, unknown>) => [row.status, Number(row.n)])).toEqual([["SUCCESSFUL", TASKS]]);
      const attempts = await knex(TASK_TABLE).max({ max: "attempts" }).first();
      expect(Number(attempts?.max)).toBe(1);
      // The database agrees: each task names the one worker the log says ran it.
      const ranIn = new Map(runs);
      const rows: Array<{ id: string; worker_ids: string | string[] }> = await knex(TASK_TABLE).select("id", "worker_ids");
      for (const row of rows) {
        const stored = typeof row.worker_ids === "string" ? (JSON.parse(row.worker_ids) as string[]) : row.worker_ids;
        expect(stored).toEqual([ranIn.get(row.id)]);
      }
    });
  });
}
