import type { NextFunction, Request, Response } from "express";
import { createConsoleLogger, type Logger } from "../log.ts";
import { getRuntime, type Runtime } from "../runtime.ts";
import type { EndpointName, Gate } from "./auth.ts";
import { HttpError, INTERNAL_ERROR, sendError, sendJson } from "./respond.ts";

/** An Express handler; it answers every request itself and never calls `next` with an error. */
export type View = (req: Request, res: Response, next: NextFunction) => Promise<void>;

export interface ViewContext {
  req: Request;
  res: Response;
  runtime: Runtime;
  bodyLimit: number;
}

export interface ViewSpec {
  endpoint: EndpointName;
  methods: readonly string[];
  handle(context: ViewContext): Promise<void>;
}

export interface ViewSettings {
  gate: Gate;
  bodyLimit: number;
  /** Where unexpected errors are logged; default the runtime's logger. */
  logger?: Logger;
}

let fallbackLogger: Logger | null = null;

/**
 * Wraps an endpoint's logic with what every endpoint shares: 405 for other
 * methods (checked first, so it holds even where the view is mounted with
 * `app.all`), the gate, and JSON answers for every failure: a refusal's own
 * status, or 500 `{"error": "Internal server error"}` logged with its stack,
 * never an HTML page or a stack trace sent to the caller.
 */
export function defineView(spec: ViewSpec, settings: ViewSettings): View {
  const allow = spec.methods.join(", ");
  return async (req, res) => {
    if (!spec.methods.includes(req.method)) {
      sendJson(res, 405, { error: "Method not allowed" }, { Allow: allow });
      return;
    }
    let runtime: Runtime | undefined;
    try {
      runtime = await getRuntime();
      await settings.gate(req, spec.endpoint, runtime);
      await spec.handle({ req, res, runtime, bodyLimit: settings.bodyLimit });
    } catch (error) {
      if (error instanceof HttpError) {
        sendError(res, error);
        return;
      }
      const logger = settings.logger ?? runtime?.logger ?? (fallbackLogger ??= createConsoleLogger());
      logger.error("Task endpoint failed", {
        endpoint: spec.endpoint,
        method: req.method,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      sendJson(res, 500, { error: INTERNAL_ERROR });
    }
  };
}
