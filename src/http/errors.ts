import type { ErrorRequestHandler } from "express";
import { describeError } from "../errors.ts";
import { createConsoleLogger, type Logger } from "../log.ts";
import { INTERNAL_ERROR, sendJson } from "./respond.ts";

/**
 * Answers errors raised around the views (Express failing to decode a URL
 * parameter, a body parser in front of them) with JSON instead of Express's
 * HTML page: 4xx keep their status, anything else is logged and becomes 500.
 */
export function jsonErrorHandler(getLogger: () => Logger | undefined): ErrorRequestHandler {
  let fallback: Logger | null = null;
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = Number((error as { status?: unknown; statusCode?: unknown })?.status ?? (error as { statusCode?: unknown })?.statusCode);
    if (Number.isInteger(status) && status >= 400 && status < 500) {
      sendJson(res, status, { error: clientErrorMessage(status, error) });
      return;
    }
    (getLogger() ?? (fallback ??= createConsoleLogger())).error("HTTP request failed", {
      method: req.method,
      path: req.path,
      error: describeError(error),
    });
    sendJson(res, 500, { error: INTERNAL_ERROR });
  };
}

function clientErrorMessage(status: number, error: unknown): string {
  const type = (error as { type?: unknown })?.type;
  if (type === "entity.parse.failed") return "Invalid JSON";
  if (status === 413) return "Request body too large";
  if (status === 400 && error instanceof URIError) return "Malformed URL";
  if (status === 400 && /decode param/i.test((error as Error)?.message ?? "")) return "Malformed URL";
  return status === 400 ? "Bad request" : status === 404 ? "Not found" : "Request refused";
}
