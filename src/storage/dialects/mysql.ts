import type { Knex } from "knex";
import type { Dialect, RawRow } from "./dialect.ts";
import { CLAIM_ORDER } from "./dialect.ts";
import { TASK_TABLE } from "../storage.ts";
import { migrationStatementsFor } from "../migrations/index.ts";

const startAttempt = `status = 'RUNNING',
              started_at = COALESCE(started_at, ?),
              last_attempted_at = ?,
              attempts = attempts + 1,
              worker_ids = JSON_ARRAY_APPEND(worker_ids, '$', ?),
              finished_at = NULL,
              locked_until = ?`;

/**
 * MySQL 8 and MariaDB >= 10.6: no UPDATE ... RETURNING, so the claim is
 * SELECT ... FOR UPDATE SKIP LOCKED, UPDATE, SELECT in one READ COMMITTED
 * transaction (READ COMMITTED avoids gap locks that serialize concurrent claimers).
 */
export const mysqlDialect: Dialect = {
  name: "mysql",
  capabilities: { skipLocked: true, updateReturning: false, listenNotify: false, lockedClaims: false },
  driverParsesJson: false,
  encodeDate: (date) => date,
  decodeDate: (value) => (value == null ? null : value instanceof Date ? value : new Date(value as string)),

  async claim(knex, { backendName, queueName, limit, workerId, now, lockedUntil }) {
    const queueFilter = queueName ? "AND queue_name = ?" : "";
    return knex.transaction(
      async (trx: Knex.Transaction) => {
        const [due] = await trx.raw(
          `SELECT id FROM ${TASK_TABLE}
            WHERE status = 'READY' AND backend_name = ? AND available_at <= ? ${queueFilter}
            ORDER BY ${CLAIM_ORDER}
            LIMIT ?
            FOR UPDATE SKIP LOCKED`,
          [backendName, now, ...(queueName ? [queueName] : []), limit],
        );
        const ids = (due as RawRow[]).map((row) => row.id as string);
        if (ids.length === 0) return [];
        const placeholders = ids.map(() => "?").join(", ");
        await trx.raw(`UPDATE ${TASK_TABLE} SET ${startAttempt} WHERE id IN (${placeholders})`, [now, now, workerId, lockedUntil, ...ids]);
        const [rows] = await trx.raw(`SELECT * FROM ${TASK_TABLE} WHERE id IN (${placeholders})`, ids);
        return rows as RawRow[];
      },
      { isolationLevel: "read committed" },
    );
  },

  async claimById(knex, { id, statuses, workerId, now, lockedUntil }) {
    return knex.transaction(
      async (trx: Knex.Transaction) => {
        const [update] = await trx.raw(
          `UPDATE ${TASK_TABLE} SET ${startAttempt} WHERE id = ? AND status IN (${statuses.map(() => "?").join(", ")})`,
          [now, now, workerId, lockedUntil, id, ...statuses],
        );
        if ((update as { affectedRows: number }).affectedRows !== 1) return undefined;
        const [rows] = await trx.raw(`SELECT * FROM ${TASK_TABLE} WHERE id = ?`, [id]);
        return (rows as RawRow[])[0];
      },
      { isolationLevel: "read committed" },
    );
  },

  dropLastWorkerId: "JSON_REMOVE(worker_ids, CONCAT('$[', JSON_LENGTH(worker_ids) - 1, ']'))",
  insertChunkSize: 1000,
  migrationStatements: migrationStatementsFor("mysql"),
};
