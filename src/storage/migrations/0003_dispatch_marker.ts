import { TASK_TABLE as T } from "../storage.ts";

/**
 * `dispatched_at`: when a backend that delivers tasks itself (Cloud Tasks)
 * handed the task over. NULL on a READY row of such a backend means the
 * hand-over has not happened (or failed) and `database-task dispatch` should
 * retry it. No index of its own: that lookup reads one backend's READY rows,
 * which the claim index already serves, and an extra index would tax every
 * enqueue of every backend.
 */
export const migration0003 = {
  name: "0003_dispatch_marker",
  postgres: {
    up: [`ALTER TABLE ${T} ADD COLUMN dispatched_at timestamptz`],
    down: [`ALTER TABLE ${T} DROP COLUMN dispatched_at`],
  },
  mysql: {
    up: [`ALTER TABLE ${T} ADD COLUMN dispatched_at datetime(3) NULL`],
    down: [`ALTER TABLE ${T} DROP COLUMN dispatched_at`],
  },
  sqlite: {
    up: [`ALTER TABLE ${T} ADD COLUMN dispatched_at integer`],
    down: [`ALTER TABLE ${T} DROP COLUMN dispatched_at`],
  },
};
