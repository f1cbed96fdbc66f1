import { allowedHostsFromEnvironment, isAllowedDevelopmentHost } from "../http/deployment.ts";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { clientKey, FailureThrottle, THROTTLED_MESSAGE, throttleNotice } from "../http/throttle.ts";
import { createConsoleLogger, type Logger } from "../log.ts";
import { getRuntime } from "../runtime.ts";
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

/** `reason` is for the server's log only. */
type CredentialCheck = { ok: true; identity: string } | { ok: false; reason: string };

function checkCredentials(options: ResolvedOptions, header: string | undefined): CredentialCheck {
  if (header === undefined) return { ok: false, reason: "no Authorization header" };
  const match = /^(\S+)\s+(.+)$/.exec(header);
  if (!match) return { ok: false, reason: "malformed Authorization header" };
  const scheme = match[1].toLowerCase();
  const value = match[2].trim();
  if (scheme === "basic" && options.basicAuth) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return { ok: false, reason: "malformed Basic credentials" };
    // Both halves are always compared, so the time taken says nothing about which was wrong.
    const userOk = safeEqual(decoded.slice(0, colon), options.basicAuth.username);
    const passwordOk = safeEqual(decoded.slice(colon + 1), options.basicAuth.password);
    return userOk && passwordOk ? { ok: true, identity: `basic:${options.basicAuth.username}` } : { ok: false, reason: "wrong Basic username or password" };
  }
  if (scheme === "bearer" && options.bearerToken) {
    return safeEqual(value, options.bearerToken) ? { ok: true, identity: "bearer" } : { ok: false, reason: "wrong bearer token" };
  }
  return { ok: false, reason: `an Authorization scheme the admin is not configured for (it takes ${[options.basicAuth && "Basic", options.bearerToken && "Bearer"].filter(Boolean).join(" or ")})` };
}

function isLoopback(address: string | undefined): boolean {
  return address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1";
}

function refuse(res: Response, status: 401 | 403, text: string, challenges: string[] = []): void {
  for (const challenge of challenges) res.append("WWW-Authenticate", challenge);
  res.status(status).type("text/plain").send(text);
}

let fallbackLogger: Logger | null = null;

/** The reason for a refusal goes to the log, once per request; the caller is told only 401 or 403. */
async function logRefusal(req: Request, status: number, client: string, reason: string): Promise<void> {
  let logger: Logger;
  try {
    logger = (await getRuntime()).logger;
  } catch {
    logger = fallbackLogger ??= createConsoleLogger();
  }
  logger.warn("Admin refused a request", { status, path: req.originalUrl, client, reason });
}

/**
 * Runs before every admin route, assets included: credentials first (401 with
 * a challenge), then the authorize hook (403). In development mode without
 * any, only loopback clients are served. A client that sent wrong credentials
 * MAX_FAILURES times within the window gets 429 until it ends (see
 * http/throttle.ts), before its credentials are even looked at.
 */
export function requireAuthorization(options: ResolvedOptions, throttle: FailureThrottle = new FailureThrottle()): RequestHandler {
  const challenges: string[] = [];
  if (options.basicAuth) challenges.push(`Basic realm="${options.basicAuth.realm}", charset="UTF-8"`);
  if (options.bearerToken) challenges.push(`Bearer realm="${options.basicAuth?.realm ?? "database-task admin"}"`);

  return async (req: Request, res: Response, next: NextFunction) => {
    const client = clientKey(req);
    const wait = throttle.retryAfterSeconds(client);
    if (wait > 0) {
      res.status(429).set("Retry-After", String(wait)).type("text/plain").send(THROTTLED_MESSAGE);
      return;
    }
    let identity = "";
    if (challenges.length > 0) {
      const check = checkCredentials(options, req.headers.authorization);
      if (!check.ok) {
        let reason = check.reason;
        if (req.headers.authorization !== undefined && throttle.recordFailure(client)) reason += `; ${throttleNotice(throttle, client)}`;
        await logRefusal(req, 401, client, reason);
        return refuse(res, 401, "Authorization required.", challenges);
      }
      identity = check.identity;
    }
    if (options.authorize) {
      if ((await options.authorize(req)) !== true) {
        await logRefusal(req, 403, client, "the authorize hook refused the request");
        return refuse(res, 403, "Forbidden.");
      }
    } else if (challenges.length === 0) {
      // Only insecureDevelopmentMode gets here (resolveOptions refuses otherwise).
      // The socket address, not req.ip: a forwarded-for header must not make a remote client look local.
      if (!isLoopback(req.socket.remoteAddress)) {
        await logRefusal(req, 403, client, `insecureDevelopmentMode serves loopback clients only; this one is ${req.socket.remoteAddress}`);
        return refuse(res, 403, "Forbidden.");
      }
      // A loopback socket is not enough: a page whose name the attacker re-points at 127.0.0.1 (DNS rebinding) sends its own Host.
      if (!isAllowedDevelopmentHost(req.headers.host, allowedHostsFromEnvironment())) {
        await logRefusal(req, 403, client, `insecureDevelopmentMode answers loopback host names only (set DATABASE_TASK_ALLOWED_HOSTS to add some); Host was ${JSON.stringify(req.headers.host ?? "")}`);
        return refuse(res, 403, "Forbidden.");
      }
    }
    res.locals.adminIdentity = identity;
    next();
  };
}
