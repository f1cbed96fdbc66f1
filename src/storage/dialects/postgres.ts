import type { Dialect, RawRow } from "./dialect.ts";
import { CLAIM_ORDER } from "./dialect.ts";
import { TASK_TABLE } from "../storage.ts";
import { migration0001 } from "../migrations/0001_create_task_table.ts";

/**
 * PostgreSQL: one UPDATE over a SKIP LOCKED subselect claims a whole batch in
 * a single round trip, served by the partial index over READY rows.
 */
export const postgresDialect: Dialect = {
  name: "postgres",
  capabilities: { skipLocked: true, updateReturning: true, listenNotify: true },
  driverParsesJson: true,
  encodeDate: (date) => date,
  decodeDate: (value) => (value == null ? null : value instanceof Date ? value : new Date(value as string)),

  async claim(knex, { backendName, queueName, limit, workerId, now, lockedUntil }) {
    const queueFilter = queueName ? "AND queue_name = ?" : "";
    const bindings = [now, now, workerId, lockedUntil, backendName, now, ...(queueName ? [queueName] : []), limit];
    const result = await knex.raw(
      `UPDATE ${TASK_TABLE} AS t
          SET status = 'RUNNING',
              started_at = COALESCE(t.started_at, ?),
              last_attempted_at = ?,
              attempts = t.attempts + 1,
              worker_ids = t.worker_ids || jsonb_build_array(?::text),
              finished_at = NULL,
              locked_until = ?
         FROM (SELECT id FROM ${TASK_TABLE}
                WHERE status = 'READY' AND backend_name = ? AND available_at <= ? ${queueFilter}
                ORDER BY ${CLAIM_ORDER}
                LIMIT ?
                FOR UPDATE SKIP LOCKED) AS due
        WHERE t.id = due.id
        RETURNING t.*`,
      bindings,
    );
    return result.rows as RawRow[];
  },

  async claimById(knex, { id, statuses, workerId, now, lockedUntil }) {
    const result = await knex.raw(
      `UPDATE ${TASK_TABLE}
          SET status = 'RUNNING',
              started_at = COALESCE(started_at, ?),
              last_attempted_at = ?,
              attempts = attempts + 1,
              worker_ids = worker_ids || jsonb_build_array(?::text),
              finished_at = NULL,
              locked_until = ?
        WHERE id = ? AND status IN (${statuses.map(() => "?").join(", ")})
        RETURNING *`,
      [now, now, workerId, lockedUntil, id, ...statuses],
    );
    return result.rows[0] as RawRow | undefined;
  },

  insertChunkSize: 1000,
  migrationStatements: { [migration0001.name]: migration0001.postgres },
};
