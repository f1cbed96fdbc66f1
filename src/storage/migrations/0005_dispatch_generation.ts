import { TASK_TABLE as T } from "../storage.ts";

/**
 * `dispatch_generation`: how many times the task's Cloud Task has been created
 * anew. The Cloud Task's name is derived from (task id, generation), so
 * creating it twice in one generation is idempotent (ALREADY_EXISTS), while a
 * task whose Cloud Task is gone (Cloud Tasks ran out of attempts, or it was
 * deleted) gets a new generation and so a name that Cloud Tasks' deduplication
 * window has not seen. A constant default: no table rewrite on any of the three.
 */
export const migration0005 = {
  name: "0005_dispatch_generation",
  postgres: {
    up: [`ALTER TABLE ${T} ADD COLUMN dispatch_generation integer NOT NULL DEFAULT 0`],
    down: [`ALTER TABLE ${T} DROP COLUMN dispatch_generation`],
  },
  mysql: {
    up: [`ALTER TABLE ${T} ADD COLUMN dispatch_generation int NOT NULL DEFAULT 0`],
    down: [`ALTER TABLE ${T} DROP COLUMN dispatch_generation`],
  },
  sqlite: {
    up: [`ALTER TABLE ${T} ADD COLUMN dispatch_generation integer NOT NULL DEFAULT 0`],
    down: [`ALTER TABLE ${T} DROP COLUMN dispatch_generation`],
  },
};
