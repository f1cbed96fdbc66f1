import type { NextFunction, Request, RequestHandler, Response } from "express";
import { safeEqual } from "./crypto.ts";
import type { ResolvedOptions } from "./options.ts";

/**
 * Who the request was authorized as, for binding CSRF tokens to it: the Basic
 * username, "bearer", or "" when only the authorize hook (or development mode)
 * let it in.
 */
export function authIdentity(res: Response): string {
  return typeof res.locals.adminIdentity === "string" ? res.locals.adminIdentity : "";
}

type CredentialCheck = { ok: true; identity: string } | { ok: false };

function checkCredentials(options: ResolvedOptions, header: string | undefined): CredentialCheck {
  const match = /^(\S+)\s+(.+)$/.exec(header ?? "");
  if (!match) return { ok: false };
  const scheme = match[1].toLowerCase();
  const value = match[2].trim();
  if (scheme === "basic" && options.basicAuth) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return { ok: false };
    // Both halves are always compared, so the time taken says nothing about which was wrong.
    const userOk = safeEqual(decoded.slice(0, colon), options.basicAuth.username);
    const passwordOk = safeEqual(decoded.slice(colon + 1), options.basicAuth.password);
    return userOk && passwordOk ? { ok: true, identity: `basic:${options.basicAuth.username}` } : { ok: false };
  }
  if (scheme === "bearer" && options.bearerToken) {
    return safeEqual(value, options.bearerToken) ? { ok: true, identity: "bearer" } : { ok: false };
  }
  return { ok: false };
}

function isLoopback(address: string | undefined): boolean {
  return address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1";
}

function refuse(res: Response, status: 401 | 403, text: string, challenges: string[] = []): void {
  for (const challenge of challenges) res.append("WWW-Authenticate", challenge);
  res.status(status).type("text/plain").send(text);
}

/**
 * Runs before every admin route, assets included: credentials first (401 with
 * a challenge), then the authorize hook (403). In development mode without
 * any, only loopback clients are served.
 */
export function requireAuthorization(options: ResolvedOptions): RequestHandler {
  const challenges: string[] = [];
  if (options.basicAuth) challenges.push(`Basic realm="${options.basicAuth.realm}", charset="UTF-8"`);
  if (options.bearerToken) challenges.push(`Bearer realm="${options.basicAuth?.realm ?? "database-task admin"}"`);

  return async (req: Request, res: Response, next: NextFunction) => {
    let identity = "";
    if (challenges.length > 0) {
      const check = checkCredentials(options, req.headers.authorization);
      if (!check.ok) return refuse(res, 401, "Authorization required.", challenges);
      identity = check.identity;
    }
    if (options.authorize) {
      if ((await options.authorize(req)) !== true) return refuse(res, 403, "Forbidden.");
    } else if (challenges.length === 0) {
      // Only insecureDevelopmentMode gets here (resolveOptions refuses otherwise).
      // The socket address, not req.ip: a forwarded-for header must not make a remote client look local.
      if (!isLoopback(req.socket.remoteAddress)) return refuse(res, 403, "insecureDevelopmentMode serves loopback clients only.");
    }
    res.locals.adminIdentity = identity;
    next();
  };
}
