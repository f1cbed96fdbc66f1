import type { NextFunction, Request, Response } from "express";
import { describeError } from "../errors.ts";
import { createConsoleLogger, type Logger } from "../log.ts";
import { getRuntime, type Runtime } from "../runtime.ts";
import type { EndpointName, Gate } from "./auth.ts";
import { refuseCrossSite, requireJsonOrEmptyBody } from "./request-checks.ts";
import { HttpError, INTERNAL_ERROR, sendError, sendJson } from "./respond.ts";
import { clientKey } from "./throttle.ts";

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
 * status (a refusal's reason logged at warn, never sent), or 500
 * `{"error": "Internal server error"}` logged without SQL text (and with its
 * stack only under DATABASE_TASK_DEBUG), never an HTML page or a stack trace
 * sent to the caller.
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
      if (spec.endpoint !== "status") {
        // Endpoints that change data: never for a web page on another site, never from a form.
        refuseCrossSite(req);
        if (req.method === "POST") requireJsonOrEmptyBody(req);
      }
      await spec.handle({ req, res, runtime, bodyLimit: settings.bodyLimit });
    } catch (error) {
      const logger = settings.logger ?? runtime?.logger ?? (fallbackLogger ??= createConsoleLogger());
      if (error instanceof HttpError) {
        if (error.detail) logger.warn("Task endpoint refused a request", { endpoint: spec.endpoint, method: req.method, client: clientKey(req), reason: error.detail });
        sendError(res, error);
        return;
      }
      logger.error("Task endpoint failed", { endpoint: spec.endpoint, method: req.method, error: describeError(error) });
      sendJson(res, 500, { error: INTERNAL_ERROR });
    }
  };
}
