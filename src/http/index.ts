/**
 * database-task/express: django-database-task's HTTP endpoints for Express,
 * plus a ready app and server for deployment.
 */
export {
  taskRouter,
  runTasksView,
  runOneTaskView,
  taskStatusView,
  executeTaskView,
  purgeTasksView,
  maintainTasksView,
  type TaskRouterOptions,
  type TaskViews,
} from "./router.ts";
export type { View } from "./view.ts";
export type { AuthOptions, AuthorizeHook, EndpointName } from "./auth.ts";
export { resultItem, type ResultItem } from "./views.ts";
export { DEFAULT_BODY_LIMIT } from "./body.ts";
export { healthView } from "./health.ts";
export { createApp, type AppOptions } from "./app.ts";
export { startServer, DEFAULT_GRACE_PERIOD_MS, type ServerOptions, type RunningServer } from "./server.ts";
export { serveFromEnvironment } from "./environment.ts";
export { portFromEnvironment, authFromEnvironment, ENV, DEFAULT_PORT } from "./settings.ts";
