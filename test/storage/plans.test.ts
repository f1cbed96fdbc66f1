/**
 * The plans of the worker's hot statements on PostgreSQL, on a table whose
 * statistics were taken while every row was READY (as after a bulk enqueue
 * and an ANALYZE): the claims read the claim index, and the outcome writes
 * find their rows by primary key. An outcome write that let the planner
 * estimate "RUNNING rows: 1" scanned the table and looped over the whole
 * batch for each row: 74 ms instead of 5 for 500 outcomes. The rows here are
 * as narrow as a no-op task's, which makes the table look cheap to scan.
 */
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime, task } from "../../src/index.ts";
import {
  postgresClaimQuery,
  postgresFinishQuery,
  postgresLockedClaimQuery,
  postgresLockedFinishQuery,
} from "../../src/storage/dialects/postgres.ts";
import type { AttemptOutcome } from "../../src/storage/storage.ts";
import type { TaskResultData } from "../../src/task/result.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";

const TASKS = 20_000;
const tiny = task((n: number) => n, { name: "t" });
const BATCH = 500;
const available = await databaseAvailable("postgres");

describe.skipIf(!available)("plans of the worker's statements on PostgreSQL", () => {
  let db: TestDatabase;
  let knex: Knex;
  let claimed: TaskResultData[];

  const plan = async (query: { text: string; values: unknown[] }): Promise<string> => {
    // EXPLAIN ANALYZE runs the statement: inside a transaction that is rolled back.
    const connection = (await knex.client.acquireConnection()) as { query(q: string | object): Promise<{ rows: Array<Record<string, string>> }> };
    try {
      await connection.query("BEGIN");
      const result = await connection.query({ text: `EXPLAIN (ANALYZE) ${query.text}`, values: query.values });
      return result.rows.map((row) => row["QUERY PLAN"]).join("\n");
    } finally {
      await connection.query("ROLLBACK");
      await knex.client.releaseConnection(connection);
    }
  };
  const outcomes = (): AttemptOutcome[] =>
    claimed.map((task) => ({
      id: task.id,
      attempt: task.attempts,
      status: "SUCCESSFUL",
      returnValue: { ok: true },
      errors: null,
      finishedAt: new Date(),
      availableAt: null,
      startedAt: task.startedAt,
    }));

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    configure({ database: db.url, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const storage = (await getRuntime()).storage();
    knex = storage.knex;
    await storage.migrate();
    // Narrow rows, as a drain of short tasks has: the table is cheap to scan, which is what tempted the planner.
    for (let i = 0; i < TASKS; i += 1000) await tiny.enqueueMany(Array.from({ length: 1000 }, (_, j) => [i + j] as [number]));
    await knex.raw("ANALYZE database_task");
    const now = new Date();
    claimed = await storage.taskClaim({ backendName: "default", limit: BATCH, workerId: "w", now, lockedUntil: new Date(now.getTime() + 60_000) });
    expect(claimed).toHaveLength(BATCH);
  });

  afterAll(async () => {
    await close().catch(() => undefined);
    await db?.drop();
  }, 30_000);

  it("the lease claim and the locked claim read the claim index", async () => {
    const request = { backendName: "default", limit: BATCH, workerId: "w", now: new Date(), lockedUntil: new Date() };
    expect(await plan(postgresClaimQuery(request))).toContain("database_task_claim_idx");
    expect(await plan(postgresLockedClaimQuery(request))).toContain("database_task_claim_idx");
  });

  it("the batched outcome write finds its rows by primary key, whatever the statistics say about RUNNING rows", async () => {
    const text = await plan(postgresFinishQuery(outcomes()));
    expect(text).not.toMatch(/Seq Scan on database_task/);
    expect(text).toContain(`Index Scan using database_task_pkey on database_task t`);
  });

  it("the locked claim's outcome write finds its rows by primary key", async () => {
    const text = await plan(postgresLockedFinishQuery(outcomes(), "w", new Date()));
    expect(text).toContain("Index Scan using database_task_pkey");
    expect(text).not.toMatch(/Seq Scan on database_task/);
  });
});
