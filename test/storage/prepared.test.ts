/**
 * PostgreSQL runs the worker's claim and outcome statements as named prepared
 * statements unless `worker.preparedStatements` is false (for poolers that
 * cannot keep them). Both ways must run tasks the same; the named ones must
 * really be prepared on the connection.
 */
import { afterAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime, processTasks } from "../../src/index.ts";
import { add } from "../fixtures/tasks.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("prepared hot statements on postgres", () => {
  let db: TestDatabase | null = null;
  afterAll(async () => {
    await close();
    await db?.drop();
  });

  for (const preparedStatements of [true, false]) {
    it(`runs tasks with worker.preparedStatements ${preparedStatements}`, async () => {
      db ??= await createTestDatabase("postgres");
      await close();
      // One pooled connection, so the statements below run where the claims ran.
      const database = { client: "pg", connection: db.url, pool: { min: 1, max: 1 } };
      configure({ database, worker: { preparedStatements }, logger: { debug() {}, info() {}, warn() {}, error() {} } });
      const storage = (await getRuntime()).storage();
      await storage.migrate();
      const enqueued = await add.enqueueMany([[1, 2], [3, 4], [5, 6]]);
      expect((await processTasks()).map((r) => r.returnValue)).toEqual([3, 7, 11]);
      for (const task of enqueued) expect((await task.refresh()).status).toBe("SUCCESSFUL");
      const names = (await storage.knex.raw("SELECT name FROM pg_prepared_statements")).rows.map((r: { name: string }) => r.name);
      if (preparedStatements) expect(names).toContain("database_task_claim");
      else expect(names).not.toContain("database_task_claim");
    });
  }
});
