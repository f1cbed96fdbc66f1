import { TASK_TABLE as T } from "../storage.ts";

/**
 * Fewer indexes for the worker to keep up to date. On PostgreSQL every claim
 * and every recorded outcome writes a new row version, and each one is entered
 * in every index: index upkeep was a third of the database's work in a drain.
 *
 * - `enqueued_idx` and `finished_idx` go. Ids are UUIDv7 stamped with the
 *   enqueue millisecond, so the primary key already orders tasks by enqueue
 *   time (the admin list pages by id), and purge walks the primary key.
 * - PostgreSQL: the lease index covers rows that hold a lease
 *   (`locked_until IS NOT NULL`, exactly the RUNNING rows) instead of
 *   `status = 'RUNNING'`. Lease recovery (`locked_until < now`) still reads it;
 *   the batched outcome UPDATE, which checks `status = 'RUNNING'`, no longer
 *   can: the planner answered it by reading every RUNNING entry of the index,
 *   dead ones included (a bitmap scan does not skip them), a cost that grew
 *   with throughput until the next vacuum. Now it looks rows up by primary key.
 */
export const migration0004 = {
  name: "0004_leaner_indexes",
  postgres: {
    up: [
      `DROP INDEX ${T}_enqueued_idx`,
      `DROP INDEX ${T}_finished_idx`,
      `DROP INDEX ${T}_lease_idx`,
      `CREATE INDEX ${T}_lease_idx ON ${T} (locked_until) WHERE locked_until IS NOT NULL`,
    ],
    down: [
      `DROP INDEX ${T}_lease_idx`,
      `CREATE INDEX ${T}_lease_idx ON ${T} (locked_until) WHERE status = 'RUNNING'`,
      `CREATE INDEX ${T}_finished_idx ON ${T} (finished_at) WHERE status IN ('SUCCESSFUL', 'FAILED')`,
      `CREATE INDEX ${T}_enqueued_idx ON ${T} (enqueued_at)`,
    ],
  },
  mysql: {
    up: [`ALTER TABLE ${T} DROP INDEX ${T}_enqueued_idx, DROP INDEX ${T}_finished_idx`],
    down: [`ALTER TABLE ${T} ADD INDEX ${T}_finished_idx (status, finished_at), ADD INDEX ${T}_enqueued_idx (enqueued_at)`],
  },
  sqlite: {
    up: [`DROP INDEX ${T}_enqueued_idx`, `DROP INDEX ${T}_finished_idx`],
    down: [
      `CREATE INDEX ${T}_finished_idx ON ${T} (finished_at) WHERE status IN ('SUCCESSFUL', 'FAILED')`,
      `CREATE INDEX ${T}_enqueued_idx ON ${T} (enqueued_at)`,
    ],
  },
};
