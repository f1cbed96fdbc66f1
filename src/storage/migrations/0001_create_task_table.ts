import { TASK_TABLE as T } from "../storage.ts";

/**
 * The task table. `available_at` is runAfter, or the enqueue time when there
 * is none: it lets one index serve the claim's "due, by priority, oldest
 * first" without an OR. `locked_until` is the lease of a RUNNING attempt.
 */
export const migration0001 = {
  name: "0001_create_task_table",
  postgres: {
    up: [
      `CREATE TABLE ${T} (
        id uuid PRIMARY KEY,
        task_name varchar(255) NOT NULL,
        queue_name varchar(255) NOT NULL DEFAULT 'default',
        backend_name varchar(255) NOT NULL DEFAULT 'default',
        priority integer NOT NULL DEFAULT 0,
        status varchar(20) NOT NULL DEFAULT 'READY'
          CHECK (status IN ('READY', 'RUNNING', 'SUCCESSFUL', 'FAILED')),
        args jsonb NOT NULL DEFAULT '[]',
        return_value jsonb,
        errors jsonb NOT NULL DEFAULT '[]',
        worker_ids jsonb NOT NULL DEFAULT '[]',
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL DEFAULT 1,
        run_after timestamptz,
        available_at timestamptz NOT NULL,
        enqueued_at timestamptz NOT NULL,
        started_at timestamptz,
        last_attempted_at timestamptz,
        finished_at timestamptz,
        locked_until timestamptz
      )`,
      `CREATE INDEX ${T}_claim_idx ON ${T} (backend_name, priority DESC, available_at) WHERE status = 'READY'`,
      `CREATE INDEX ${T}_lease_idx ON ${T} (locked_until) WHERE status = 'RUNNING'`,
      `CREATE INDEX ${T}_finished_idx ON ${T} (finished_at) WHERE status IN ('SUCCESSFUL', 'FAILED')`,
      `CREATE INDEX ${T}_enqueued_idx ON ${T} (enqueued_at)`,
    ],
    down: [`DROP TABLE ${T}`],
  },
  mysql: {
    up: [
      `CREATE TABLE ${T} (
        id char(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
        task_name varchar(255) NOT NULL,
        queue_name varchar(255) NOT NULL DEFAULT 'default',
        backend_name varchar(255) NOT NULL DEFAULT 'default',
        priority int NOT NULL DEFAULT 0,
        status varchar(20) CHARACTER SET ascii NOT NULL DEFAULT 'READY',
        args longtext NOT NULL,
        return_value longtext NULL,
        errors longtext NOT NULL,
        worker_ids longtext NOT NULL,
        attempts int NOT NULL DEFAULT 0,
        max_attempts int NOT NULL DEFAULT 1,
        run_after datetime(3) NULL,
        available_at datetime(3) NOT NULL,
        enqueued_at datetime(3) NOT NULL,
        started_at datetime(3) NULL,
        last_attempted_at datetime(3) NULL,
        finished_at datetime(3) NULL,
        locked_until datetime(3) NULL,
        KEY ${T}_claim_idx (status, backend_name, priority DESC, available_at),
        KEY ${T}_lease_idx (status, locked_until),
        KEY ${T}_finished_idx (status, finished_at),
        KEY ${T}_enqueued_idx (enqueued_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
    down: [`DROP TABLE ${T}`],
  },
  sqlite: {
    up: [
      `CREATE TABLE ${T} (
        id text PRIMARY KEY NOT NULL,
        task_name text NOT NULL,
        queue_name text NOT NULL DEFAULT 'default',
        backend_name text NOT NULL DEFAULT 'default',
        priority integer NOT NULL DEFAULT 0,
        status text NOT NULL DEFAULT 'READY' CHECK (status IN ('READY', 'RUNNING', 'SUCCESSFUL', 'FAILED')),
        args text NOT NULL DEFAULT '[]',
        return_value text,
        errors text NOT NULL DEFAULT '[]',
        worker_ids text NOT NULL DEFAULT '[]',
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL DEFAULT 1,
        run_after integer,
        available_at integer NOT NULL,
        enqueued_at integer NOT NULL,
        started_at integer,
        last_attempted_at integer,
        finished_at integer,
        locked_until integer
      )`,
      `CREATE INDEX ${T}_claim_idx ON ${T} (backend_name, priority DESC, available_at) WHERE status = 'READY'`,
      `CREATE INDEX ${T}_lease_idx ON ${T} (locked_until) WHERE status = 'RUNNING'`,
      `CREATE INDEX ${T}_finished_idx ON ${T} (finished_at) WHERE status IN ('SUCCESSFUL', 'FAILED')`,
      `CREATE INDEX ${T}_enqueued_idx ON ${T} (enqueued_at)`,
    ],
    down: [`DROP TABLE ${T}`],
  },
};
