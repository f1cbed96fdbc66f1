import type { Dialect, RawRow } from "./dialect.ts";
import { CLAIM_ORDER } from "./dialect.ts";
import { TASK_TABLE } from "../storage.ts";
import { migrationStatementsFor } from "../migrations/index.ts";

/** The columns a new attempt sets, shared by both claims; bindings: now, now, workerId, lockedUntil. */
const START_ATTEMPT = `status = 'RUNNING',
              started_at = COALESCE(started_at, ?),
              last_attempted_at = ?,
              attempts = attempts + 1,
              worker_ids = json_insert(worker_ids, '$[#]', ?),
              finished_at = NULL,
              locked_until = ?`;

/**
 * SQLite has no row locks, but one UPDATE ... WHERE id IN (SELECT ... LIMIT n)
 * RETURNING is a single write transaction: SQLite lets one writer at a time
 * in, so two worker processes on one file can never take the same task.
 * Times are stored as integer milliseconds since the epoch.
 */
export const sqliteDialect: Dialect = {
  name: "sqlite",
  capabilities: { skipLocked: false, updateReturning: true, listenNotify: false, lockedClaims: false },
  driverParsesJson: false,
  encodeDate: (date) => date.getTime(),
  decodeDate: (value) => (value == null ? null : new Date(Number(value))),

  async claim(knex, { backendName, queueName, limit, workerId, now, lockedUntil }) {
    const queueFilter = queueName ? "AND queue_name = ?" : "";
    const t = now.getTime();
    return (await knex.raw(
      `UPDATE ${TASK_TABLE}
          SET ${START_ATTEMPT}
        WHERE id IN (SELECT id FROM ${TASK_TABLE}
                      WHERE status = 'READY' AND backend_name = ? AND available_at <= ? ${queueFilter}
                      ORDER BY ${CLAIM_ORDER}
                      LIMIT ?)
        RETURNING *`,
      [t, t, workerId, lockedUntil.getTime(), backendName, t, ...(queueName ? [queueName] : []), limit],
    )) as RawRow[];
  },

  async claimById(knex, { id, statuses, workerId, now, lockedUntil }) {
    const t = now.getTime();
    const rows = (await knex.raw(
      `UPDATE ${TASK_TABLE}
          SET ${START_ATTEMPT}
        WHERE id = ? AND status IN (${statuses.map(() => "?").join(", ")})
        RETURNING *`,
      [t, t, workerId, lockedUntil.getTime(), id, ...statuses],
    )) as RawRow[];
    return rows[0];
  },

  dropLastWorkerId: "json_remove(worker_ids, '$[#-1]')",
  insertChunkSize: 400,
  migrationStatements: migrationStatementsFor("sqlite"),
};
