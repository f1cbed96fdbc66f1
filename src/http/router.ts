import { Router } from "express";
import { ConfigError } from "../errors.ts";
import { isProduction } from "./deployment.ts";
import { createConsoleLogger, type Logger } from "../log.ts";
import { backendOnlyGate, isUnprotected, routerGate, UNPROTECTED_MESSAGE, validateAuthOptions, type AuthOptions } from "./auth.ts";
import { DEFAULT_BODY_LIMIT } from "./body.ts";
import { jsonErrorHandler } from "./errors.ts";
import { defineView, type View, type ViewSettings } from "./view.ts";
import { executeTaskSpec, maintainTasksSpec, purgeTasksSpec, runOneTaskSpec, runTasksSpec, taskStatusSpec } from "./views.ts";

export interface TaskRouterOptions extends AuthOptions {
  /** Largest accepted request body in bytes (larger ones get 413). Default 100 kB. */
  bodyLimit?: number;
  /** Where warnings and unexpected errors go; default the runtime's logger. */
  logger?: Logger;
}

export interface TaskViews {
  runTasks: View;
  runOneTask: View;
  taskStatus: View;
  executeTask: View;
  purgeTasks: View;
  maintainTasks: View;
}

export function createTaskViews(settings: ViewSettings): TaskViews {
  return {
    runTasks: defineView(runTasksSpec, settings),
    runOneTask: defineView(runOneTaskSpec, settings),
    taskStatus: defineView(taskStatusSpec, settings),
    executeTask: defineView(executeTaskSpec, settings),
    purgeTasks: defineView(purgeTasksSpec, settings),
    maintainTasks: defineView(maintainTasksSpec, settings),
  };
}

/**
 * The views on their own, to mount behind your own authentication. They apply
 * no check of their own except the backends' (Cloud Tasks OIDC) on execute and
 * purge. executeTaskView needs a `:task_id` route parameter.
 */
const standalone = createTaskViews({ gate: backendOnlyGate, bodyLimit: DEFAULT_BODY_LIMIT });
export const runTasksView: View = standalone.runTasks;
export const runOneTaskView: View = standalone.runOneTask;
export const taskStatusView: View = standalone.taskStatus;
export const executeTaskView: View = standalone.executeTask;
export const purgeTasksView: View = standalone.purgeTasks;
export const maintainTasksView: View = standalone.maintainTasks;

/**
 * django-database-task's endpoints as an Express router:
 * `app.use("/tasks", taskRouter({ bearerToken: process.env.TASKS_TOKEN }))`.
 * Paths work with and without the trailing slash.
 */
export function taskRouter(options: TaskRouterOptions = {}): Router {
  validateAuthOptions(options);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1) throw new TypeError(`bodyLimit must be a positive whole number of bytes; got ${bodyLimit}.`);
  if (isUnprotected(options)) {
    if (isProduction()) throw new ConfigError(UNPROTECTED_MESSAGE);
    (options.logger ?? createConsoleLogger()).warn(
      "Task endpoints accept requests from anyone (fine for local development). Set bearerToken or authorize, " +
        "or allowUnauthenticated: true to silence this; with NODE_ENV=production this configuration is refused.",
    );
  }
  const views = createTaskViews({ gate: routerGate(options), bodyLimit, logger: options.logger });
  const router = Router();
  router.all("/run", views.runTasks);
  router.all("/run-one", views.runOneTask);
  router.all("/status", views.taskStatus);
  router.all("/execute/:task_id", views.executeTask);
  router.all("/purge", views.purgeTasks);
  router.all("/maintain", views.maintainTasks);
  router.use(jsonErrorHandler(() => options.logger));
  return router;
}
