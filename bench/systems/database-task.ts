/**
 * This project, used the way its README documents: configure(), a task defined
 * with task(), enqueue()/enqueueMany(), and a continuous Worker with 8 slots.
 * Also the checks only this project gets: every drained task recorded, the
 * claim statement's plan, and a table full of finished history.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { close, configure, getRuntime, migrate, task, Worker, type Logger } from "../../src/index.ts";
import type { ClaimMode } from "../../src/config/config.ts";
import { postgresLockedClaimQuery } from "../../src/storage/dialects/postgres.ts";
import type { Client } from "../postgres.ts";
import { type JobHandler, type Payload, type QueueSystem } from "./system.ts";

const TABLE = "database_task";
/** Tasks claimed ahead of free slots: the README's throughput setting, the same depth as graphile-worker's localQueue here. */
const PREFETCH = 500;
/**
 * The README's setting for many short tasks: claims held as row locks, one
 * write per task. The benchmark also drains once per round with the default
 * ("lease"), passed to the worker process in BENCH_CLAIM_MODE.
 */
const CLAIM_MODE: ClaimMode = process.env.BENCH_CLAIM_MODE === "lease" ? "lease" : "lock";

/** Warnings and errors only: the benchmark's output stays readable, problems still show. */
const logger: Logger = {
  debug() {},
  info() {},
  warn: (message, meta) => process.stderr.write(`[database-task] WARN ${message} ${meta ? JSON.stringify(meta) : ""}\n`),
  error: (message, meta) => process.stderr.write(`[database-task] ERROR ${message} ${meta ? JSON.stringify(meta) : ""}\n`),
};

let currentHandler: JobHandler = (payload) => payload;

/** The benchmark's no-op task; what it returns is recorded as the task's return value. */
const benchNoop = task(
  function benchNoop(payload: Payload) {
    return currentHandler(payload);
  },
  { name: "bench.noop" },
);

function projectVersion(): string {
  const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  try {
    const cwd = new URL("../..", import.meta.url);
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd, encoding: "utf8" }).trim() !== "";
    return `${version} (git ${commit}${dirty ? ", src/ modified" : ""})`;
  } catch {
    return version;
  }
}

export const databaseTask: QueueSystem = {
  name: "database-task",
  version: projectVersion(),
  configuration: {
    worker:
      'new Worker({ concurrency: 8, prefetch: 500, claimMode: "lock", continuous: true, interval: 2 }) in its own process ' +
      "(prefetch as graphile-worker's localQueue size; the default claimMode \"lease\" is measured too, drain only)",
    enqueue: "task.enqueue(payload); bulk: task.enqueueMany([[payload], ...]) (one INSERT per 1000 rows)",
    connection: "configure({ database: url }) (knex + pg, default pool)",
    node: "--max-semi-space-size=4 --heap-growing-percent=100, as the README advises for worker processes",
    result: "the no-op returns { n }, recorded as the task's return value",
  },
  // READY rows through the claim index, RUNNING ones through the lease index (a RUNNING row is
  // exactly one holding a lease): the harness polls this every millisecond at the end of a
  // drain, and a scan of a table with a million finished rows would take longer than the tail.
  unfinishedSql:
    `SELECT (SELECT count(*) FROM ${TABLE} WHERE status = 'READY')` +
    ` + (SELECT count(*) FROM ${TABLE} WHERE locked_until IS NOT NULL AND status = 'RUNNING')`,

  async install(url) {
    configure({ database: url, logger });
    try {
      await migrate();
    } finally {
      await close();
    }
  },

  async producer(url) {
    configure({ database: url, logger });
    await (await getRuntime()).storage().knex.raw("SELECT 1");
    return {
      enqueue: async (payload) => {
        await benchNoop.enqueue(payload);
      },
      enqueueMany: async (payloads) => {
        await benchNoop.enqueueMany(payloads.map((payload): [Payload] => [payload]));
      },
      close: () => close(),
    };
  },

  async prepareWorker(url, { concurrency, pollSeconds, handler }) {
    configure({ database: url, logger, worker: { concurrency } });
    currentHandler = handler;
    const knex = (await getRuntime()).storage().knex;
    // Open the connections now, not on the drain clock: as many as a continuous worker holds at once in
    // a drain (LISTEN and the lease check, then with "lease" a claim and an outcome batch: 4; with "lock"
    // up to 4-5 claimed batches, each holding its connection while its tasks run: 6 were open after a
    // 20,000-task drain), as graphile-worker's adapter opens the 4 it uses.
    await Promise.all(Array.from({ length: CLAIM_MODE === "lock" ? 6 : 4 }, () => knex.raw("SELECT 1")));
    let worker: Worker | null = null;
    let running: Promise<unknown> = Promise.resolve();
    return {
      async start() {
        worker = new Worker({ concurrency, prefetch: PREFETCH, claimMode: CLAIM_MODE, continuous: true, interval: pollSeconds });
        running = worker.run().catch((error) => logger.error("worker failed", { error: String(error) }));
      },
      async stop() {
        worker?.stop();
        await running;
        await close();
      },
    };
  },
};

/* ----- checks only this project gets ----- */

export interface DrainCheck {
  total: number;
  successful: number;
  /** SUCCESSFUL with enqueued, started and finished times, in that order. */
  timestamped: number;
  /** Whose stored return value is what the no-op returned ({ n } of its argument). */
  returnValueRecorded: number;
  ok: boolean;
}

/** Every task enqueued at or after `since` must be SUCCESSFUL, with its times and return value. */
export async function checkDrained(client: Client, since: Date, expected: number): Promise<DrainCheck> {
  const { rows } = await client.query<Record<string, string>>(
    `SELECT count(*) AS total,
            count(*) FILTER (WHERE status = 'SUCCESSFUL') AS successful,
            count(*) FILTER (WHERE status = 'SUCCESSFUL'
                               AND started_at IS NOT NULL AND finished_at IS NOT NULL
                               AND started_at >= enqueued_at AND finished_at >= started_at) AS timestamped,
            count(*) FILTER (WHERE return_value = args -> 0) AS returned
       FROM ${TABLE}
      WHERE enqueued_at >= $1`,
    [since],
  );
  const row = rows[0];
  const check = {
    total: Number(row.total),
    successful: Number(row.successful),
    timestamped: Number(row.timestamped),
    returnValueRecorded: Number(row.returned),
  };
  const ok = Object.values(check).every((count) => count === expected);
  return { ...check, ok };
}

/**
 * Fills the table with `count` finished tasks, straight in SQL: copies of one
 * real SUCCESSFUL row (so every column is filled the way the worker fills it,
 * whatever columns the table has), each with a new id and its timestamps
 * spread over the past.
 */
export async function insertFinishedRows(client: Client, count: number): Promise<void> {
  const template = await client.query<{ id: unknown }>(`SELECT id FROM ${TABLE} WHERE status = 'SUCCESSFUL' LIMIT 1`);
  if (template.rows.length === 0) throw new Error("insertFinishedRows: no SUCCESSFUL task to copy");
  const { rows: columns } = await client.query<{ name: string; type: string; hasDefault: boolean }>(
    `SELECT column_name AS name, data_type AS type, column_default IS NOT NULL AS "hasDefault"
       FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1
      ORDER BY ordinal_position`,
    [TABLE],
  );
  const names: string[] = [];
  const values: string[] = [];
  for (const column of columns) {
    const name = client.escapeIdentifier(column.name);
    if (column.name === "id") {
      if (column.hasDefault) continue; // serial / identity: let the database number the copies
      names.push(name);
      // UUIDv7 stamped with the copy's enqueue time, as enqueue makes ids: a real history sits to
      // the left of new tasks in the primary key, not scattered through it as random ids would be.
      const v7 =
        `(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12))`;
      values.push(column.type === "uuid" ? `${v7}::uuid` : v7);
    } else {
      names.push(name);
      values.push(column.type.startsWith("timestamp") ? `t.${name} - g * interval '1 millisecond'` : `t.${name}`);
    }
  }
  await client.query(
    `INSERT INTO ${TABLE} (${names.join(", ")})
     SELECT ${values.join(", ")}
       FROM ${TABLE} AS t, generate_series(1, $2::int) AS g,
            LATERAL (SELECT lpad(to_hex((extract(epoch FROM t.enqueued_at - g * interval '1 millisecond') * 1000)::bigint), 12, '0') AS h,
                            md5(g::text) AS r) AS v7
      WHERE t.id = $1`,
    [template.rows[0].id, count],
  );
}

export interface ClaimStatement {
  sql: string;
  params: unknown[];
  source: string;
}

/**
 * The statement the benchmarked worker claims with, for EXPLAIN: the
 * PostgreSQL dialect's own locked claim, built for the "default" backend.
 * (EXPLAIN ANALYZE runs it, so the caller rolls back.)
 */
export async function claimStatement(limit: number): Promise<ClaimStatement> {
  const { text, values } = postgresLockedClaimQuery({ backendName: "default", limit, now: new Date() });
  return { sql: text, params: values, source: 'the PostgreSQL dialect\'s claim statement for claimMode "lock" (postgresLockedClaimQuery)' };
}
