import type { Response } from "express";

/**
 * A refusal a view answers with `{ "error": message }`. Thrown by parameter
 * parsing and checks so a view reads top to bottom without status plumbing.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Why, for the server's log (a refusal's reason, the configuration to look at); never sent to the caller. */
  detail?: string;
  constructor(status: number, message: string, headers: Record<string, string> = {}, detail?: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
    this.detail = detail;
  }
}

export const INTERNAL_ERROR = "Internal server error";

export function sendJson(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  // Answers describe the queue at one instant; a cache must never replay them.
  res.set({ "Cache-Control": "no-store", ...headers });
  res.status(status).json(body);
}

export function sendError(res: Response, error: HttpError): void {
  sendJson(res, error.status, { error: error.message }, error.headers);
}
