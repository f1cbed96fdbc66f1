import knexFactory from "knex";
import { afterAll, expect, it } from "vitest";
import { close, configure, MIGRATIONS_TABLE, migrationSourceFor, processOneTask } from "../../src/index.ts";
import { add } from "../fixtures/tasks.ts";
import { createTestDatabase } from "../helpers/databases.ts";

const db = await createTestDatabase("sqlite");
const knex = knexFactory({ client: "better-sqlite3", connection: { filename: new URL(db.url).pathname }, useNullAsDefault: true });

afterAll(async () => {
  await close();
  await knex.destroy(); // the application's instance stays the application's to close
  await db.drop();
});

it("works on the application's own knex instance, migrated from the application's migration flow", async () => {
  const [, applied] = await knex.migrate.latest({ migrationSource: migrationSourceFor(knex), tableName: MIGRATIONS_TABLE });
  expect(applied).toEqual(["0001_create_task_table", "0002_notify_on_insert", "0003_dispatch_marker", "0004_leaner_indexes", "0005_dispatch_generation"]);
  configure({ database: knex });
  const enqueued = await add.enqueue(20, 22);
  expect((await processOneTask())?.returnValue).toBe(42);
  expect((await enqueued.refresh()).status).toBe("SUCCESSFUL");
  await close();
  expect(await knex.raw("select 1 as one")).toEqual([{ one: 1 }]);
});
