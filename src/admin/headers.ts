import type { NextFunction, Request, Response } from "express";

/**
 * Sent with every admin response, refusals included. Scripts and styles come
 * only from the router's own files, nothing may frame the pages, forms may
 * only post back here, and no cache keeps a page of task data.
 */
const HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  // Not "no-referrer": under it browsers send "Origin: null" with form posts, which the CSRF check refuses.
  "Referrer-Policy": "same-origin",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set(HEADERS);
  next();
}
