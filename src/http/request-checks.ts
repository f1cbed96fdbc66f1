import type { Request } from "express";
import { HttpError } from "./respond.ts";

/**
 * Checks that keep a web page from driving the endpoints through a browser
 * (CSRF): a page on another site can make the browser send a form POST
 * (`text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`)
 * or a GET (an `<img>`), but never one with `Content-Type: application/json`
 * or an `Authorization` header without the server agreeing to CORS first,
 * which these endpoints never do.
 */

/** Requests let through by a credential a browser cannot attach cross-site: a bearer token, an OIDC token, App Engine cron's header. */
const credentialed = new WeakSet<Request>();

export function markCredentialed(req: Request): void {
  credentialed.add(req);
}

export function isCredentialed(req: Request): boolean {
  return credentialed.has(req);
}

/**
 * Refuses a request a browser says comes from another site (`Sec-Fetch-Site`),
 * or whose `Origin` is not this server's own (scheme and host), unless a
 * credential let it through. Scripts and servers send neither header.
 */
export function refuseCrossSite(req: Request): void {
  if (isCredentialed(req)) return;
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string" && site !== "same-origin" && site !== "none") throw crossSite();
  const origin = req.headers.origin;
  if (typeof origin === "string" && origin !== ownOrigin(req)) throw crossSite();
}

const crossSite = () => new HttpError(403, "Cross-site requests are refused: call the task endpoints from a server or script, not from a web page");

/** This request's own origin as a browser would write it: scheme (honouring `trust proxy`) and Host. */
export function ownOrigin(req: Request): string {
  return `${req.protocol}://${req.headers.host ?? ""}`;
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * A POST that changes data carries a JSON body or none at all: a body of any
 * other declared type (a form's) answers 415 before it is read. An empty body
 * passes whatever its type says: Cloud Tasks posts to execute with no type,
 * Cloud Scheduler and `curl -d ''` may declare one; and an empty body asks for
 * nothing but the defaults (a browser's empty cross-site form is refused by
 * refuseCrossSite, which runs first).
 */
export function requireJsonOrEmptyBody(req: Request): void {
  const length = req.headers["content-length"];
  const hasBody = (length !== undefined && length.trim() !== "0") || req.headers["transfer-encoding"] !== undefined;
  if (!hasBody) return;
  const type = req.headers["content-type"];
  if (type !== undefined && JSON_TYPE.test(type)) return;
  throw new HttpError(415, "Content-Type must be application/json (or send no body)");
}
