/**
 * Two real worker processes drain one queue: every task must run exactly once.
 * This is the claim's promise (SKIP LOCKED on PostgreSQL and MariaDB, a single
 * write statement on SQLite), checked end to end.
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

      const runs = readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" ")[0]);
      expect(runs).toHaveLength(TASKS);
      expect(new Set(runs).size).toBe(TASKS);
      expect(new Set(runs)).toEqual(new Set(enqueued.map((r) => r.id)));

      const processed = results.map((r) => Number(/Total tasks processed: (\d+)/.exec(r.stdout)?.[1]));
      expect(processed[0] + processed[1]).toBe(TASKS);

      const knex = (await getRuntime()).storage().knex;
      const byStatus = await knex(TASK_TABLE).select("status").count({ n: "*" }).groupBy("status");
      expect(byStatus.map((row: Record<string, unknown>) => [row.status, Number(row.n)])).toEqual([["SUCCESSFUL", TASKS]]);
      const attempts = await knex(TASK_TABLE).max({ max: "attempts" }).first();
      expect(Number(attempts?.max)).toBe(1);
    });
  });
}
