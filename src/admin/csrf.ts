import type { Request, Response } from "express";
import { authIdentity } from "./auth.ts";
import { readCookie, setCookie } from "./cookies.ts";
import { randomToken, safeEqual, sign } from "./crypto.ts";

const CSRF_COOKIE = "dt_admin_csrf";
const COOKIE_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The token every form posts back. It is an HMAC of a random per-browser
 * cookie and the authorized identity: a page on another site can neither read
 * the cookie nor compute the HMAC, and a token issued to one Basic user is
 * worthless to another.
 */
export function issueCsrfToken(req: Request, res: Response, key: Buffer): string {
  let nonce = readCookie(req, CSRF_COOKIE);
  if (!nonce || !COOKIE_SHAPE.test(nonce)) {
    nonce = randomToken();
    setCookie(req, res, CSRF_COOKIE, nonce);
  }
  return sign(key, "csrf", `${nonce}\n${authIdentity(res)}`);
}

/**
 * Why a POST must be refused, or null when it came from our own page: the
 * browser's own statement of where the request came from (Sec-Fetch-Site,
 * Origin), then the token. Clients that send neither header (scripts) still
 * need the token.
 */
export function csrfRefusal(req: Request, res: Response, key: Buffer, trustedOrigins: string[]): string | null {
  const site = req.headers["sec-fetch-site"];
  const origin = req.headers.origin;
  const trustedOrigin = typeof origin === "string" && trustedOrigins.includes(origin);
  if (typeof site === "string" && site !== "same-origin" && !trustedOrigin) return `cross-site request (Sec-Fetch-Site: ${site})`;
  if (typeof origin === "string" && !trustedOrigin && !sameOrigin(origin, req)) return "request from another origin";
  const nonce = readCookie(req, CSRF_COOKIE);
  const token = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (!nonce || typeof token !== "string") return "missing CSRF token";
  if (!safeEqual(token, sign(key, "csrf", `${nonce}\n${authIdentity(res)}`))) return "invalid CSRF token";
  return null;
}

/**
 * Scheme and host both: a page served over plain HTTP on the same host name must
 * not post to the HTTPS admin. Behind Google's front ends `req.protocol` is
 * https through `trust proxy` (see createApp).
 */
function sameOrigin(origin: string, req: Request): boolean {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false; // includes "null", sent by sandboxed frames and privacy-stripped requests
  }
  return parsed.protocol === `${req.protocol}:` && (parsed.host === req.headers.host || parsed.host === req.host);
}
