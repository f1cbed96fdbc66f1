import { TASK_TABLE as T } from "../storage.ts";

/**
 * PostgreSQL only: the lease index covers rows that hold a lease
 * (`locked_until IS NOT NULL`, which is exactly the RUNNING rows) instead of
 * `status = 'RUNNING'`. Lease recovery (`locked_until < now`) still reads it;
 * the worker's batched outcome UPDATE, which checks `status = 'RUNNING'`, no
 * longer can. With the old predicate the planner answered that UPDATE by
 * reading every RUNNING entry of the index, dead ones included (a bitmap scan
 * does not skip them), and cost grew with throughput until the next vacuum;
 * now it looks each row up by primary key.
 */
export const migration0004 = {
  name: "0004_lease_index_by_lock",
  postgres: {
    up: [`DROP INDEX ${T}_lease_idx`, `CREATE INDEX ${T}_lease_idx ON ${T} (locked_until) WHERE locked_until IS NOT NULL`],
    down: [`DROP INDEX ${T}_lease_idx`, `CREATE INDEX ${T}_lease_idx ON ${T} (locked_until) WHERE status = 'RUNNING'`],
  },
  // Their lease index is (status, locked_until), without a predicate to match.
  mysql: { up: [], down: [] },
  sqlite: { up: [], down: [] },
};
