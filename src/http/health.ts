import type { Request, Response } from "express";
import { describeError } from "../errors.ts";
import { createConsoleLogger, type Logger } from "../log.ts";
import { getRuntime } from "../runtime.ts";
import { sendJson } from "./respond.ts";

export const DEFAULT_HEALTH_TIMEOUT_MS = 5_000;

/**
 * `GET /healthz`: 200 `{"status": "ok"}` when the database answers a trivial
 * query, else 503, so a load balancer stops sending work the instance cannot
 * do. The bound keeps a hung database from hanging the probe too.
 */
export function healthView(options: { timeoutMs?: number; logger?: Logger } = {}) {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  return async (_req: Request, res: Response): Promise<void> => {
    let logger = options.logger;
    let timer: NodeJS.Timeout | undefined;
    try {
      const runtime = await getRuntime();
      logger ??= runtime.logger;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      await Promise.race([runtime.storage().knex.raw("SELECT 1"), timeout]);
      sendJson(res, 200, { status: "ok" });
    } catch (error) {
      (logger ?? createConsoleLogger()).warn("Health check failed: database unreachable", {
        error: describeError(error, { stack: false }),
      });
      sendJson(res, 503, { status: "unavailable", error: "Database unreachable" });
    } finally {
      clearTimeout(timer);
    }
  };
}
