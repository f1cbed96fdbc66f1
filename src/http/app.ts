import express, { type Express } from "express";
import {
  ALLOWED_HOSTS_ENV,
  allowedHostsFromEnvironment,
  isAllowedDevelopmentHost,
  isProduction,
  normalizeHostName,
  trustProxyFromEnvironment,
} from "./deployment.ts";
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
  /**
   * Host names (besides localhost, 127.0.0.1 and [::1]) a development server answers to;
   * requests for any other Host are refused (DNS rebinding). Default: DATABASE_TASK_ALLOWED_HOSTS.
   * Not checked in production, where the platform routes by host.
   */
  allowedHosts?: string[];
  /** Express's `trust proxy`. Default: DATABASE_TASK_TRUST_PROXY, else one hop on Cloud Run and App Engine, else none. */
  trustProxy?: boolean | number | string;
}

/** A ready-to-listen Express app: the task router, a health check, JSON 404s and JSON errors. */
export function createApp(options: AppOptions = {}): Express {
  const app = express();
  app.disable("x-powered-by");
  // ETags would let a client get 304 for a pending count that has changed meanwhile.
  app.set("etag", false);
  app.set("trust proxy", options.trustProxy ?? trustProxyFromEnvironment());
  if (!isProduction()) {
    const allowed = (options.allowedHosts ?? allowedHostsFromEnvironment()).map((host) => normalizeHostName(host, "allowedHosts"));
    app.use((req, res, next) => {
      if (isAllowedDevelopmentHost(req.headers.host, allowed)) return next();
      sendJson(res, 403, { error: `Host not allowed: this development server answers to localhost only (set ${ALLOWED_HOSTS_ENV} to add names)` });
    });
  }
  app.get(options.healthPath ?? "/healthz", healthView({ timeoutMs: options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS, logger: options.logger }));
  app.use(options.mountPath ?? "/tasks", taskRouter(options));
  options.extend?.(app);
  app.use((_req, res) => sendJson(res, 404, { error: "Not found" }));
  app.use(jsonErrorHandler(() => options.logger));
  return app;
}
