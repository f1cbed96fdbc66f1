import { TASK_TABLE as T } from "../storage.ts";

/**
 * PostgreSQL: NOTIFY on every INSERT statement (not per row: a bulk enqueue
 * sends one), delivered at commit, so idle workers start new tasks at once
 * instead of at their next poll. Other databases have no equivalent; their
 * workers poll.
 */
export const NOTIFY_CHANNEL = "database_task";

export const migration0002 = {
  name: "0002_notify_on_insert",
  postgres: {
    up: [
      `CREATE FUNCTION ${T}_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('${NOTIFY_CHANNEL}', '');
          RETURN NULL;
        END $$`,
      `CREATE TRIGGER ${T}_notify AFTER INSERT ON ${T} FOR EACH STATEMENT EXECUTE FUNCTION ${T}_notify()`,
    ],
    down: [`DROP TRIGGER ${T}_notify ON ${T}`, `DROP FUNCTION ${T}_notify()`],
  },
  mysql: { up: [], down: [] },
  sqlite: { up: [], down: [] },
};
