import { TASK_TABLE as T } from "../storage.ts";

/**
 * `dispatched_at`: when a backend that delivers tasks itself (Cloud Tasks)
 * handed the task over. NULL on a READY row of such a backend means the
 * hand-over has not happened (or failed) and `database-task dispatch` should
 * retry it; the index keeps that lookup cheap however large the table grows.
 */
export const migration0003 = {
  name: "0003_dispatch_marker",
  postgres: {
    up: [
      `ALTER TABLE ${T} ADD COLUMN dispatched_at timestamptz`,
      `CREATE INDEX ${T}_undispatched_idx ON ${T} (backend_name, enqueued_at) WHERE status = 'READY' AND dispatched_at IS NULL`,
    ],
    down: [`DROP INDEX ${T}_undispatched_idx`, `ALTER TABLE ${T} DROP COLUMN dispatched_at`],
  },
  mysql: {
    up: [
      `ALTER TABLE ${T} ADD COLUMN dispatched_at datetime(3) NULL, ADD KEY ${T}_undispatched_idx (status, backend_name, dispatched_at, enqueued_at)`,
    ],
    down: [`ALTER TABLE ${T} DROP KEY ${T}_undispatched_idx, DROP COLUMN dispatched_at`],
  },
  sqlite: {
    up: [
      `ALTER TABLE ${T} ADD COLUMN dispatched_at integer`,
      `CREATE INDEX ${T}_undispatched_idx ON ${T} (backend_name, enqueued_at) WHERE status = 'READY' AND dispatched_at IS NULL`,
    ],
    down: [`DROP INDEX ${T}_undispatched_idx`, `ALTER TABLE ${T} DROP COLUMN dispatched_at`],
  },
};
