/**
 * PostgreSQL runs the worker's claim and outcome statements as named prepared
 * statements unless `worker.preparedStatements` is false (for poolers that
 * cannot keep them). Both ways must run tasks the same; the named ones must
 * really be prepared on the connection.
 */
import knexFactory from "knex";
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

  it("plans every run afresh, so plans made while the table was small are not kept as it grows", async () => {
    db ??= await createTestDatabase("postgres");
    await close();
    const database = { client: "pg", connection: db.url, pool: { min: 1, max: 1 } };
    configure({ database, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const storage = (await getRuntime()).storage();
    await storage.migrate();
    // Enough runs on a near-empty table for PostgreSQL's default to settle on a generic plan (after five).
    for (let i = 0; i < 8; i++) {
      await add.enqueueMany([[i, 1], [i, 2]]);
      expect(await processTasks()).toHaveLength(2);
    }
    const { rows } = await storage.knex.raw(
      "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'database_task_%' ORDER BY name",
    );
    const claim = rows.find((r: { name: string }) => r.name === "database_task_claim");
    expect(Number(claim.custom_plans)).toBeGreaterThanOrEqual(8);
    for (const row of rows) expect(Number(row.generic_plans)).toBe(0);
  });

  it("does not prepare them on your own knex instance unless asked to (the plan setting is not ours to make there)", async () => {
    db ??= await createTestDatabase("postgres");
    await close();
    const knex = knexFactory({ client: "pg", connection: db.url, pool: { min: 1, max: 1 } });
    try {
      configure({ database: knex, logger: { debug() {}, info() {}, warn() {}, error() {} } });
      await (await getRuntime()).storage().migrate();
      await add.enqueueMany([[1, 1], [2, 2]]);
      expect((await processTasks()).map((r) => r.returnValue)).toEqual([2, 4]);
      const names = (await knex.raw("SELECT name FROM pg_prepared_statements")).rows.map((r: { name: string }) => r.name);
      expect(names).not.toContain("database_task_claim");
      expect((await knex.raw("SHOW plan_cache_mode")).rows[0].plan_cache_mode).toBe("auto");
    } finally {
      await close();
      await knex.destroy();
    }
  });
});
