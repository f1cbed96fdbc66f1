/**
 * What the log says when a task endpoint meets a database failure: the error's
 * class and the driver's message, never SQL text, task arguments or a stack
 * (the stack only with DATABASE_TASK_DEBUG=1, still without SQL). Real HTTP,
 * real databases: a SQLite file another connection holds an exclusive lock
 * on, a PostgreSQL connection cut with pg_terminate_backend mid-statement.
 */
import knexFactory, { type Knex } from "knex";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime, runTaskById } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { createTestDatabase, databaseAvailable, POSTGRES_ADMIN_URL, type TestDatabase } from "../helpers/databases.ts";
import { count } from "./fixtures/tasks.ts";
import { recordingLogger, request, startApp, type TestServer } from "./helpers.ts";

const SECRET = "s3cr3t-arg-value";
type Lines = ReturnType<typeof recordingLogger>["lines"];

const asText = (lines: Lines) => lines.map((line) => `${line.level} ${line.message} ${JSON.stringify(line.meta ?? {})}`).join("\n");

/** Nothing a log line must never carry. */
function expectNoSqlNorSecrets(lines: Lines): void {
  const text = asText(lines).toLowerCase();
  for (const forbidden of ["select", "insert", "update", "delete from", TASK_TABLE, SECRET]) {
    expect(text, `a log line contains "${forbidden}":\n${asText(lines)}`).not.toContain(forbidden.toLowerCase());
  }
}

function endpointErrors(lines: Lines) {
  return lines.filter((line) => line.level === "error" && line.message === "Task endpoint failed");
}

async function withDebug<T>(value: string | undefined, action: () => Promise<T>): Promise<T> {
  const previous = process.env.DATABASE_TASK_DEBUG;
  if (value === undefined) delete process.env.DATABASE_TASK_DEBUG;
  else process.env.DATABASE_TASK_DEBUG = value;
  try {
    return await action();
  } finally {
    if (previous === undefined) delete process.env.DATABASE_TASK_DEBUG;
    else process.env.DATABASE_TASK_DEBUG = previous;
  }
}

let server: TestServer | null = null;

afterEach(async () => {
  await server?.close();
  server = null;
});

describe("SQLite: a statement fails with SQLITE_BUSY (another connection holds an exclusive lock)", () => {
  let db: TestDatabase;
  let file: string;
  let locker: Knex | null = null;
  const logger = recordingLogger();

  beforeAll(async () => {
    db = await createTestDatabase("sqlite");
    file = db.url.replace(/^sqlite:\/\//, "");
    delete process.env.DATABASE_URL;
    configure({
      database: {
        client: "better-sqlite3",
        connection: { filename: file },
        // Runs after the library's own setup: wait 200 ms for the lock instead of 10 s.
        pool: {
          afterCreate(connection: { pragma(sql: string): unknown }, done: (error: Error | null, connection: unknown) => void) {
            connection.pragma("busy_timeout = 200");
            done(null, connection);
          },
        },
      },
      logger,
    });
    await (await getRuntime()).storage().migrate();
  });

  afterEach(async () => {
    await locker?.raw("ROLLBACK");
    await locker?.destroy();
    locker = null;
    logger.lines.length = 0;
  });

  afterAll(async () => {
    await close();
    await db?.drop();
  });

  async function failWhileLocked(): Promise<void> {
    // A finished task for purge to delete, a READY one for run and execute to claim.
    await runTaskById((await count.enqueue(`done ${SECRET}`)).id);
    const task = await count.enqueue(`do not log ${SECRET}`);
    server = await startApp({ logger });
    // A connection of its own (one, so the transaction stays on it) takes the write lock and keeps it.
    locker = knexFactory({ client: "better-sqlite3", connection: { filename: file }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
    await locker.raw("BEGIN EXCLUSIVE");
    for (const [method, path, body] of [
      ["POST", "/tasks/run/", undefined],
      ["POST", "/tasks/purge/", { days: 0 }],
      ["POST", `/tasks/execute/${task.id}/`, undefined],
    ] as const) {
      const reply = await request(server.url, method, path, { body });
      expect(reply.status, `${method} ${path}: ${reply.text}`).toBe(500);
      expect(reply.json).toEqual({ error: "Internal server error" });
    }
  }

  it("logs the error class and the driver's message, without SQL, arguments or a stack", async () => {
    await withDebug(undefined, failWhileLocked);
    const errors = endpointErrors(logger.lines);
    expect(errors).toHaveLength(3);
    for (const line of errors) {
      expect(line.meta?.error).toMatch(/^SqliteError: database is locked \(code SQLITE_BUSY\)/);
    }
    expectNoSqlNorSecrets(logger.lines);
    expect(asText(logger.lines)).not.toContain("    at ");
  });

  it("logs the stack with DATABASE_TASK_DEBUG=1, still without SQL or arguments", async () => {
    await withDebug("1", failWhileLocked);
    const errors = endpointErrors(logger.lines);
    expect(errors).toHaveLength(3);
    for (const line of errors) {
      expect(line.meta?.error).toMatch(/^SqliteError: database is locked \(code SQLITE_BUSY\)\n {4}at /);
    }
    expectNoSqlNorSecrets(logger.lines);
  });
});

const postgres = await databaseAvailable("postgres");

describe.skipIf(!postgres)("PostgreSQL: the connection is cut mid-statement (pg_terminate_backend)", () => {
  let db: TestDatabase;
  let admin: Knex;
  const logger = recordingLogger();

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    delete process.env.DATABASE_URL;
    configure({ database: db.url, logger });
    await (await getRuntime()).storage().migrate();
    admin = knexFactory({ client: "pg", connection: POSTGRES_ADMIN_URL, pool: { min: 0, max: 1 } });
  });

  afterEach(() => {
    logger.lines.length = 0;
  });

  afterAll(async () => {
    await admin?.destroy();
    await close();
    await db?.drop();
  });

  /**
   * Holds an ACCESS EXCLUSIVE lock on the task table from another connection,
   * sends the request, waits until its statement waits for that lock, and
   * terminates the backend running it: the statement fails mid-request.
   */
  async function cutMidRequest(method: string, path: string) {
    const name = new URL(db.url).pathname.slice(1);
    const locker = knexFactory({ client: "pg", connection: db.url, pool: { min: 1, max: 1 } });
    const trx = await locker.transaction();
    try {
      await trx.raw(`LOCK TABLE ${TASK_TABLE} IN ACCESS EXCLUSIVE MODE`);
      const lockerPid = ((await trx.raw("SELECT pg_backend_pid() AS pid")).rows as Array<{ pid: number }>)[0].pid;
      const reply = request(server!.url, method, path);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await admin.raw(
          "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = ? AND pid <> ? AND wait_event_type = 'Lock'",
          [name, lockerPid],
        );
        if ((rows as Array<{ cut: boolean }>).some((row) => row.cut)) break;
        if (Date.now() > deadline) throw new Error(`${method} ${path} never waited for the lock`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return await reply;
    } finally {
      await trx.rollback().catch(() => undefined);
      await locker.destroy();
    }
  }

  it("answers 500 and logs the error class and the driver's message, without SQL, arguments or a stack", async () => {
    await count.enqueue(`do not log ${SECRET}`);
    server = await startApp({ logger });
    await withDebug(undefined, async () => {
      for (const path of ["/tasks/run/", "/tasks/purge/"]) {
        const reply = await cutMidRequest("POST", path);
        expect(reply.status, `${path}: ${reply.text}`).toBe(500);
        expect(reply.json).toEqual({ error: "Internal server error" });
      }
    });
    const errors = endpointErrors(logger.lines);
    expect(errors).toHaveLength(2);
    for (const line of errors) {
      expect(line.meta?.error).toMatch(/^(DatabaseError: terminating connection due to administrator command \(code 57P01\)|Error: Connection terminated unexpectedly)/);
    }
    expectNoSqlNorSecrets(logger.lines);
    expect(asText(logger.lines)).not.toContain("    at ");
  });

  it("logs the stack with DATABASE_TASK_DEBUG=1, still without SQL or arguments", async () => {
    await count.enqueue(`do not log ${SECRET}`);
    server = await startApp({ logger });
    await withDebug("true", async () => {
      const reply = await cutMidRequest("POST", "/tasks/purge/");
      expect(reply.status).toBe(500);
    });
    const [line] = endpointErrors(logger.lines);
    expect(line.meta?.error).toMatch(/\n {4}at /);
    expectNoSqlNorSecrets(logger.lines);
  });
});
