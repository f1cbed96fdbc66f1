import type { Knex } from "knex";
import type { Dialect, LockedRows, RawRow } from "./dialect.ts";
import { CLAIM_ORDER } from "./dialect.ts";
import { TASK_TABLE, type AttemptOutcome, type ClaimRequest } from "../storage.ts";
import { NOTIFY_CHANNEL } from "../migrations/0002_notify_on_insert.ts";
import { migrationStatementsFor } from "../migrations/index.ts";

interface PgConnection {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  query(query: string | { name?: string; text: string; values?: unknown[] }): Promise<unknown>;
}

/** The columns a new attempt sets, shared by both claims; parameters $1..$4: now, now, workerId, lockedUntil. */
const START_ATTEMPT = `status = 'RUNNING',
              started_at = COALESCE(started_at, $1),
              last_attempted_at = $2,
              attempts = attempts + 1,
              worker_ids = worker_ids || jsonb_build_array($3::text),
              finished_at = NULL,
              locked_until = $4`;

/**
 * Runs a statement with numbered parameters on a pooled connection, straight
 * through pg. Named (the worker's claim and outcome batch), it is parsed and
 * planned once per connection: a quarter of a millisecond saved on every
 * claim, which an idle worker's wake-up latency is made of. Unnamed, it is an
 * ordinary one-off statement.
 */
async function pgQuery(knex: Knex, name: string | null, query: { text: string; values: unknown[] }): Promise<RawRow[]> {
  const connection = (await knex.client.acquireConnection()) as PgConnection;
  try {
    const result = (await connection.query(name ? { name, ...query } : query)) as { rows: RawRow[] };
    return result.rows;
  } finally {
    await knex.client.releaseConnection(connection);
  }
}

/** Epoch milliseconds as float8: pg hands those back as numbers, where parsing timestamp text costs microseconds a column. */
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`;

/**
 * What claiming by id hands back: a claimed task as TaskResultData needs it.
 * The fields a claim fixes (status, finished_at, return_value) are not sent back.
 */
const CLAIMED_COLUMNS = [
  "id",
  "task_name",
  "queue_name",
  "backend_name",
  "priority",
  "args",
  "errors",
  "worker_ids",
  "attempts",
  "max_attempts",
  epochMs("run_after"),
  epochMs("enqueued_at"),
  epochMs("started_at"),
  epochMs("last_attempted_at"),
].join(", ");

/** What a worker needs of a task to run it, in both claims; the rest comes from the claim itself. */
const RUN_COLUMNS = [
  "id",
  "task_name",
  "queue_name",
  "priority",
  "args",
  "NULLIF(errors, '[]'::jsonb) AS errors",
  "attempts",
  "max_attempts",
  epochMs("run_after"),
  epochMs("enqueued_at"),
];

/**
 * What the batch claim hands back, leaner still: nothing the worker already
 * knows. The backend and the attempt's time are its own; errors, worker ids
 * and started_at come back NULL when they are what a first attempt makes them
 * (`[]`, this worker, now), and `fillClaimed` puts those back. jsonb and time
 * values cost the database microseconds each to print and the worker to parse:
 * this took about 2.7 µs of database time off every task.
 */
const BATCH_CLAIMED_COLUMNS = [
  ...RUN_COLUMNS,
  "NULLIF(worker_ids, jsonb_build_array($3::text)) AS worker_ids",
  "NULLIF(started_at, $1) AS started_at",
].join(", ");

function fillClaimed(rows: RawRow[], { backendName, workerId, now }: ClaimRequest): RawRow[] {
  for (const row of rows) {
    row.backend_name = backendName;
    row.errors ??= [];
    row.worker_ids ??= [workerId];
    row.started_at ??= now;
    row.last_attempted_at = now;
  }
  return rows;
}

/**
 * The claim: one UPDATE over a SKIP LOCKED subselect, the batch in one round
 * trip, served by the partial index over READY rows. Exported for the
 * benchmark, which EXPLAINs exactly this statement.
 */
export function postgresClaimQuery({ backendName, queueName, limit, workerId, now, lockedUntil }: ClaimRequest): { text: string; values: unknown[] } {
  const queueFilter = queueName ? "AND queue_name = $8" : "";
  return {
    // `id = ANY(ARRAY(subquery))`, not `FROM (subquery)`: for a large LIMIT the planner
    // joins a FROM subquery by hashing a sequential scan of the whole table (3.8 ms at
    // 20,000 rows, growing with history); the array keeps it to primary-key lookups (0.09 ms).
    text: `UPDATE ${TASK_TABLE}
              SET ${START_ATTEMPT}
            WHERE id = ANY(ARRAY(
                    SELECT id FROM ${TASK_TABLE}
                     WHERE status = 'READY' AND backend_name = $5 AND available_at <= $6 ${queueFilter}
                     ORDER BY ${CLAIM_ORDER}
                     LIMIT $7
                     FOR UPDATE SKIP LOCKED))
            RETURNING ${BATCH_CLAIMED_COLUMNS}`,
    values: [now, now, workerId, lockedUntil, backendName, now, limit, ...(queueName ? [queueName] : [])],
  };
}

/**
 * What a locked claim hands back: the row as it is (READY, nothing written),
 * as lean as the batch claim's. `fillLocked` makes it the attempt that is
 * about to run; its start time is set when it starts (see Worker).
 */
const LOCKED_COLUMNS = [...RUN_COLUMNS, "NULLIF(worker_ids, '[]'::jsonb) AS worker_ids", epochMs("started_at")].join(", ");

function fillLocked(rows: RawRow[], { backendName, workerId }: Omit<ClaimRequest, "lockedUntil">): RawRow[] {
  for (const row of rows) {
    row.backend_name = backendName;
    row.attempts = (row.attempts as number) + 1;
    row.errors ??= [];
    row.worker_ids = row.worker_ids ? [...(row.worker_ids as string[]), workerId] : [workerId];
  }
  return rows;
}

const LOCKED_FINISH = `UPDATE ${TASK_TABLE} AS t
                SET status = v.s,
                    return_value = v.r,
                    errors = COALESCE(v.e, t.errors),
                    attempts = v.a,
                    worker_ids = t.worker_ids || jsonb_build_array($2::text),
                    started_at = COALESCE(t.started_at, to_timestamp(v.t / 1000.0)),
                    last_attempted_at = to_timestamp(v.t / 1000.0),
                    finished_at = to_timestamp(v.f / 1000.0),
                    available_at = COALESCE(to_timestamp(v.v / 1000.0), t.available_at),
                    locked_until = NULL
               FROM json_to_recordset($1::json)
                    -- id, attempt, status, return value, errors, started, finished, available again (ms)
                    AS v(i uuid, a int, s text, r jsonb, e jsonb, t float8, f float8, v float8)
              WHERE t.id = v.i`;

/**
 * The outcomes of a locked claim, written in one UPDATE inside its transaction:
 * the whole attempt at once (the claim wrote nothing), so each task costs one
 * row version instead of two. No attempt check: the transaction holds the rows.
 * Exported for the tests that check its plan.
 */
export function postgresLockedFinishQuery(outcomes: AttemptOutcome[], workerId: string, claimedAt: Date): { text: string; values: unknown[] } {
  // One-letter keys: the document is most of what goes over the wire, and every byte is copied and parsed.
  const batch = outcomes.map((o) => ({
    i: o.id,
    a: o.attempt,
    s: o.status,
    r: o.returnValue ?? undefined,
    e: o.errors ?? undefined,
    t: (o.startedAt ?? claimedAt).getTime(),
    f: o.finishedAt?.getTime(),
    v: o.availableAt?.getTime(),
  }));
  return { text: LOCKED_FINISH, values: [JSON.stringify(batch), workerId] };
}

/**
 * The locked claim's statement: the same rows, order and index as the lease
 * claim, locked instead of updated. Exported for the benchmark's EXPLAIN.
 */
export function postgresLockedClaimQuery({ backendName, queueName, limit, now }: Omit<ClaimRequest, "lockedUntil" | "workerId">): {
  text: string;
  values: unknown[];
} {
  return {
    text: `SELECT ${LOCKED_COLUMNS} FROM ${TASK_TABLE}
            WHERE status = 'READY' AND backend_name = $1 AND available_at <= $2 ${queueName ? "AND queue_name = $4" : ""}
            ORDER BY ${CLAIM_ORDER}
            LIMIT $3
            FOR UPDATE SKIP LOCKED`,
    values: [backendName, now, limit, ...(queueName ? [queueName] : [])],
  };
}

/** How long a locked claim may wait for a lock before it gives up and comes back empty. */
export const LOCKED_CLAIM_LOCK_TIMEOUT_MS = 2000;
/** SQLSTATE of a statement that hit lock_timeout. */
const LOCK_NOT_AVAILABLE = "55P03";

async function claimLockedPostgres(knex: Knex, request: Omit<ClaimRequest, "lockedUntil">, prepared: boolean): Promise<LockedRows> {
  const connection = (await knex.client.acquireConnection()) as PgConnection;
  let released = false;
  // Ends the transaction and hands the connection back, once, whatever happens on the way.
  const end = async (statement: "COMMIT" | "ROLLBACK") => {
    if (released) return;
    released = true;
    try {
      await connection.query(statement);
    } finally {
      await knex.client.releaseConnection(connection);
    }
  };
  const rollbackQuietly = () => end("ROLLBACK").catch(() => {});
  const { queueName, workerId, now } = request;
  try {
    // SKIP LOCKED skips rows other claims hold, but a claim can still wait on a lock: behind a
    // migration's table lock, and (seen when two claims ran at the same moment) behind another
    // claim's transaction, which here stays open while its tasks run. Bounded, that wait becomes
    // an empty claim that the worker retries, never a worker stuck until another batch ends.
    await connection.query(`BEGIN; SET LOCAL lock_timeout = ${LOCKED_CLAIM_LOCK_TIMEOUT_MS}`);
    const name = prepared ? `database_task_claim_locked${queueName ? "_queue" : ""}` : undefined;
    let rows: RawRow[];
    try {
      ({ rows } = (await connection.query({ name, ...postgresLockedClaimQuery(request) })) as { rows: RawRow[] });
    } catch (error) {
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
      await rollbackQuietly();
      return { rows: [], commit: async () => {}, rollback: async () => {}, waitedOnLock: true };
    }
    if (rows.length === 0) await end("COMMIT"); // nothing to hold: the worker opens no batch for it
    return {
      rows: fillLocked(rows, request),
      async commit(outcomes: AttemptOutcome[]) {
        try {
          if (outcomes.length > 0) {
            const name = prepared ? "database_task_finish_locked" : undefined;
            await connection.query({ name, ...postgresLockedFinishQuery(outcomes, workerId, now) });
          }
          await end("COMMIT");
        } catch (error) {
          await rollbackQuietly();
          throw error;
        }
      },
      rollback: rollbackQuietly,
    };
  } catch (error) {
    await rollbackQuietly();
    throw error;
  }
}

/**
 * One UPDATE for a whole batch of finished attempts: the worker's other hot
 * statement besides the claim. The batch travels as one JSON document
 * (JSON.stringify is native; pg's array encoding escapes element by element),
 * as lean as it can be: times as epoch milliseconds, and nothing that is null
 * or unchanged (json_to_recordset reads a missing key as NULL). Each row still
 * checks that it holds the attempt. Exported for the tests that check its plan.
 */
export function postgresFinishQuery(outcomes: AttemptOutcome[]): { text: string; values: unknown[] } {
  const batch = outcomes.map((o) => ({
    id: o.id,
    attempt: o.attempt,
    status: o.status,
    return_value: o.returnValue ?? undefined,
    errors: o.errors ?? undefined,
    finished_ms: o.finishedAt?.getTime(),
    available_ms: o.availableAt?.getTime(),
    lease_expired_before_ms: o.leaseExpiredBefore?.getTime(),
  }));
  return {
    // `held` is never sent: the RUNNING check is spelled as a join clause so that the planner
    // cannot estimate the table's RUNNING rows from statistics taken while every row was READY
    // (1 row). It then scanned the table and looped over the whole batch for each row it found:
    // 74 ms instead of 5 for 500 outcomes on a 20,000-row table.
    text: `UPDATE ${TASK_TABLE} AS t
              SET status = v.status,
                  return_value = v.return_value,
                  errors = COALESCE(v.errors, t.errors),
                  finished_at = to_timestamp(v.finished_ms / 1000.0),
                  available_at = COALESCE(to_timestamp(v.available_ms / 1000.0), t.available_at),
                  locked_until = NULL
             FROM json_to_recordset($1::json)
                  AS v(id uuid, attempt int, status text, return_value jsonb, errors jsonb,
                       finished_ms float8, available_ms float8, lease_expired_before_ms float8, held text)
            WHERE t.id = v.id AND t.status = COALESCE(v.held, 'RUNNING') AND t.attempts = v.attempt
              AND (v.lease_expired_before_ms IS NULL OR t.locked_until < to_timestamp(v.lease_expired_before_ms / 1000.0))
            RETURNING t.id`,
    values: [JSON.stringify(batch)],
  };
}

/**
 * PostgreSQL: one UPDATE over a SKIP LOCKED subselect claims a whole batch in
 * a single round trip, served by the partial index over READY rows.
 */
export const postgresDialect: Dialect = {
  name: "postgres",
  capabilities: { skipLocked: true, updateReturning: true, listenNotify: true, lockedClaims: true },
  driverParsesJson: true,
  encodeDate: (date) => date,
  decodeDate: (value) => (value == null ? null : value instanceof Date ? value : new Date(value as number | string)),

  async claim(knex, request, { prepared }) {
    const rows = await pgQuery(knex, prepared ? `database_task_claim${request.queueName ? "_queue" : ""}` : null, postgresClaimQuery(request));
    return fillClaimed(rows, request);
  },

  claimLocked: (knex, request, { prepared }) => claimLockedPostgres(knex, request, prepared),

  async claimById(knex, { id, statuses, workerId, now, lockedUntil }) {
    const rows = await pgQuery(knex, null, {
      text: `UPDATE ${TASK_TABLE}
                SET ${START_ATTEMPT}
              WHERE id = $5 AND status = ANY($6::text[])
              RETURNING ${CLAIMED_COLUMNS}`,
      values: [now, now, workerId, lockedUntil, id, statuses],
    });
    return rows[0];
  },

  async insertMany(knex, tasks) {
    // One statement with one array per column: a constant 9 parameters instead
    // of 14 per row, so bulk enqueue costs little more than the rows themselves.
    const column = <T>(pick: (t: (typeof tasks)[number]) => T) => tasks.map(pick);
    await knex.raw(
      `INSERT INTO ${TASK_TABLE}
              (id, task_name, queue_name, backend_name, priority, args, max_attempts, run_after, available_at, enqueued_at)
       SELECT id, task_name, queue_name, backend_name, priority, args::jsonb, max_attempts, run_after, COALESCE(run_after, enqueued_at), enqueued_at
         FROM unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::int[], ?::text[], ?::int[], ?::timestamptz[], ?::timestamptz[])
              AS v(id, task_name, queue_name, backend_name, priority, args, max_attempts, run_after, enqueued_at)`,
      [
        column((t) => t.id),
        column((t) => t.taskName),
        column((t) => t.queueName),
        column((t) => t.backendName),
        column((t) => t.priority),
        column((t) => JSON.stringify(t.args)),
        column((t) => t.maxAttempts),
        column((t) => t.runAfter),
        column((t) => t.enqueuedAt),
      ] as unknown as string[],
    );
  },

  async finishMany(knex, outcomes, { prepared }) {
    const rows = await pgQuery(knex, prepared ? "database_task_finish" : null, postgresFinishQuery(outcomes));
    return new Set(rows.map((row) => row.id as string));
  },

  async listen(knex, onNotify, onError) {
    // A pooled connection kept out of the pool for as long as we listen.
    const connection = (await knex.client.acquireConnection()) as PgConnection;
    const onNotification = (message: { channel: string }) => message.channel === NOTIFY_CHANNEL && onNotify();
    let closed = false;
    const onConnectionError = (error: unknown) => {
      if (!closed) onError(error);
    };
    const onEnd = () => onConnectionError(new Error("LISTEN connection ended"));
    connection.on("notification", onNotification);
    connection.on("error", onConnectionError);
    connection.on("end", onEnd);
    await connection.query(`LISTEN ${NOTIFY_CHANNEL}`);
    return async () => {
      closed = true;
      connection.off("notification", onNotification);
      connection.off("error", onConnectionError);
      connection.off("end", onEnd);
      try {
        await connection.query(`UNLISTEN ${NOTIFY_CHANNEL}`);
      } catch {
        // The connection is gone; releasing it lets the pool discard it.
      }
      await knex.client.releaseConnection(connection);
    };
  },

  dropLastWorkerId: "worker_ids - (jsonb_array_length(worker_ids) - 1)",
  insertChunkSize: 1000,
  migrationStatements: migrationStatementsFor("postgres"),
};
