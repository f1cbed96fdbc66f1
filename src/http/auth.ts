import { createHash, timingSafeEqual } from "node:crypto";
import type { Request } from "express";
import type { RequestAuthenticator, RequestAuthOutcome } from "../backends/backend.ts";
import { isAppEngine } from "../detect/env.ts";
import { markCredentialed } from "./request-checks.ts";
import type { Runtime } from "../runtime.ts";
import { HttpError } from "./respond.ts";
import { CredentialRefusal, throttledGate } from "./throttle.ts";

/** The endpoints, as named to an `authorize` hook. */
export type EndpointName = "run" | "run-one" | "status" | "execute" | "purge" | "maintain";

/** Your own check: resolve to true to let the request through, false to answer 403. */
export type AuthorizeHook = (req: Request, info: { endpoint: EndpointName }) => boolean | Promise<boolean>;

export interface AuthOptions {
  /** Called for every request (after `bearerToken`, when both are set); false answers 403. */
  authorize?: AuthorizeHook;
  /** Requires `Authorization: Bearer <token>`: missing 401, wrong 403. */
  bearerToken?: string;
  /** Accepts requests without any check when nothing else is configured (refused in production otherwise). */
  allowUnauthenticated?: boolean;
}

/** Decides whether one request may use one endpoint; resolves quietly or throws an HttpError. */
export type Gate = (req: Request, endpoint: EndpointName, runtime: Runtime) => Promise<void>;

/** The endpoints a backend's request check guards (django-database-task's get_auth_handler). */
const BACKEND_GUARDED: ReadonlySet<EndpointName> = new Set(["execute", "purge", "maintain"]);

/**
 * App Engine cron calls carry `X-Appengine-Cron: true`, a header App Engine
 * strips from every request that comes from outside Google, so on App Engine
 * (and only there) it proves the caller. It opens the maintenance pass and
 * purge (cron's GET), nothing else.
 */
const CRON_TRUSTED: ReadonlySet<EndpointName> = new Set(["maintain", "purge"]);

export function isAppEngineCron(req: Request): boolean {
  return req.headers["x-appengine-cron"] === "true" && isAppEngine();
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Checks the bearer token in constant time (comparing digests, so lengths leak nothing either). */
export function bearerCheck(expected: string): (req: Request) => void {
  const expectedDigest = digest(expected);
  return (req) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? "");
    if (!match) {
      const detail = req.headers.authorization === undefined ? "no Authorization header" : "Authorization header is not a bearer token";
      throw new CredentialRefusal(401, "Missing or invalid Authorization header", { "WWW-Authenticate": 'Bearer realm="database-task"' }, detail);
    }
    if (!timingSafeEqual(digest(match[1]), expectedDigest)) throw new CredentialRefusal(403, "Forbidden", {}, "wrong bearer token");
  };
}

function isRequestAuthenticator(backend: unknown): backend is RequestAuthenticator {
  return typeof backend === "object" && backend !== null && typeof (backend as RequestAuthenticator).authenticateRequest === "function";
}

/**
 * Asks every configured backend that checks requests (the Cloud Tasks backend
 * verifying OIDC). Every backend is asked regardless of any `backend_name`
 * parameter: letting the caller pick which check applies was the model's bypass.
 * Resolves to null when no backend checks requests, else to the verdict:
 * the first acceptance, or the first refusal when none accepts.
 */
export async function consultBackends(req: Request, runtime: Runtime): Promise<RequestAuthOutcome | null> {
  let refusal: RequestAuthOutcome | null = null;
  for (const name of Object.keys(runtime.backendConfigs)) {
    const backend = runtime.backend(name);
    if (!isRequestAuthenticator(backend)) continue;
    const outcome = await backend.authenticateRequest(req);
    if (outcome === null) continue; // this backend verifies nothing; the router's own options decide
    if (outcome?.ok === true) return outcome;
    refusal ??= sanitizeRefusal(outcome, name);
  }
  return refusal;
}

function sanitizeRefusal(outcome: unknown, backendName: string): RequestAuthOutcome {
  const { status, error } = (outcome ?? {}) as { status?: unknown; error?: unknown };
  return {
    ok: false,
    status: status === 401 ? 401 : 403,
    error: `backend "${backendName}": ${typeof error === "string" && error ? error : "refused"}`,
  };
}

/**
 * The caller is told only 401 or 403; the backend's reason (configuration hints included) goes to the log.
 * Not a CredentialRefusal, so not throttled: Cloud Tasks and Cloud Scheduler call from Google's shared
 * addresses, and counting OIDC failures per address would let anyone's bad tokens hold back our deliveries.
 */
function refuse(outcome: Extract<RequestAuthOutcome, { ok: false }>): never {
  if (outcome.status === 401) {
    throw new HttpError(401, "Missing or invalid Authorization header", { "WWW-Authenticate": 'Bearer realm="database-task"' }, outcome.error);
  }
  throw new HttpError(403, "Forbidden", {}, outcome.error);
}

/** The gate of the views exported on their own: only the backends' checks (you wrap the views with yours). */
export const backendOnlyGate: Gate = throttledGate(async (req, endpoint, runtime) => {
  if (!BACKEND_GUARDED.has(endpoint)) return;
  if (CRON_TRUSTED.has(endpoint) && isAppEngineCron(req)) return markCredentialed(req);
  const verdict = await consultBackends(req, runtime);
  if (verdict && !verdict.ok) refuse(verdict);
  if (verdict?.ok) markCredentialed(req);
});

/**
 * The router's gate. On execute and purge a backend's check, when there is
 * one, is what decides: Cloud Tasks sends an OIDC token, never your bearer
 * token. Everywhere else (and there when no backend checks) your options decide.
 * Failed credentials are throttled per client (throttle.ts); refusals carry their reason for the log only.
 */
export function routerGate(options: AuthOptions): Gate {
  const bearer = options.bearerToken !== undefined ? bearerCheck(options.bearerToken) : null;
  const authorize = options.authorize ?? null;
  return throttledGate(async (req, endpoint, runtime) => {
    if (CRON_TRUSTED.has(endpoint) && isAppEngineCron(req)) return markCredentialed(req);
    if (BACKEND_GUARDED.has(endpoint)) {
      const verdict = await consultBackends(req, runtime);
      if (verdict) {
        if (!verdict.ok) refuse(verdict);
        return markCredentialed(req);
      }
    }
    bearer?.(req);
    if (bearer) markCredentialed(req);
    if (authorize && !(await authorize(req, { endpoint }))) throw new HttpError(403, "Forbidden", {}, "the authorize hook refused the request");
  });
}

/** Names what to configure; thrown in production when the endpoints would be open to anyone. */
export const UNPROTECTED_MESSAGE =
  "The task endpoints have no authorization configured, and NODE_ENV is \"production\". " +
  "Pass { bearerToken } and/or { authorize } to taskRouter()/createApp() " +
  "(database-task serve and handler/: set DATABASE_TASK_API_TOKEN), or { allowUnauthenticated: true } " +
  "(DATABASE_TASK_ALLOW_UNAUTHENTICATED=true) if something in front already authenticates callers (Cloud Run IAM, IAP).";

export function validateAuthOptions(options: AuthOptions): void {
  if (options.bearerToken !== undefined && (typeof options.bearerToken !== "string" || options.bearerToken.trim() === "")) {
    throw new TypeError("bearerToken must be a non-empty string (an empty token would let anyone in).");
  }
  if (options.bearerToken !== undefined && /\s/.test(options.bearerToken)) {
    throw new TypeError("bearerToken must not contain whitespace (an Authorization header could never carry it).");
  }
  if (options.authorize !== undefined && typeof options.authorize !== "function") {
    throw new TypeError("authorize must be a function (req, { endpoint }) => boolean | Promise<boolean>.");
  }
}

export function isUnprotected(options: AuthOptions): boolean {
  return options.bearerToken === undefined && options.authorize === undefined && options.allowUnauthenticated !== true;
}
