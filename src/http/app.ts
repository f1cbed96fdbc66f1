import express, { type Express } from "express";
import { DEFAULT_HEALTH_TIMEOUT_MS, healthView } from "./health.ts";
import { jsonErrorHandler } from "./errors.ts";
import { sendJson } from "./respond.ts";
import { taskRouter, type TaskRouterOptions } from "./router.ts";

export interface AppOptions extends TaskRouterOptions {
  /** Where the task router is mounted. Default "/tasks". */
  mountPath?: string;
  /** The health check's path. Default "/healthz". */
  healthPath?: string;
  /** How long the health check waits for the database. Default 5000 ms. */
  healthTimeoutMs?: number;
  /** Adds your own routes (an admin UI, ...) before the JSON 404 catch-all. */
  extend?: (app: Express) => void;
}

/** A ready-to-listen Express app: the task router, a health check, JSON 404s and JSON errors. */
export function createApp(options: AppOptions = {}): Express {
  const app = express();
  app.disable("x-powered-by");
  // ETags would let a client get 304 for a pending count that has changed meanwhile.
  app.set("etag", false);
  app.get(options.healthPath ?? "/healthz", healthView({ timeoutMs: options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS, logger: options.logger }));
  app.use(options.mountPath ?? "/tasks", taskRouter(options));
  options.extend?.(app);
  app.use((_req, res) => sendJson(res, 404, { error: "Not found" }));
  app.use(jsonErrorHandler(() => options.logger));
  return app;
}
