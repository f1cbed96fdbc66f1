import type { OutgoingRequest } from "./http-sender.ts";
import type { AppEngineTarget, HttpTarget, TaskRecord } from "./model.ts";
import type { OidcSigner } from "./oidc-signer.ts";
import type { AppEngineRouting } from "./queue-config.ts";
import { US_PER_MS, US_PER_SECOND, usToEpochSecondsString } from "./time.ts";

export const DEFAULT_DISPATCH_DEADLINE_US = 10 * 60 * US_PER_SECOND;
const APP_ENGINE_USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine)";

/** What the target learns about the attempt, in the X-CloudTasks-* (or X-AppEngine-*) headers. */
export interface AttemptFacts {
  queueId: string;
  taskId: string;
  /** Attempts made before this one. */
  retryCount: number;
  executionCount: number;
  etaUs: number;
  previousHttpStatus?: number;
  retryReason?: string;
}

/** Headers the service computes or reserves; a task's own copies never reach the target. */
function isReserved(name: string, extra: readonly string[]): boolean {
  const lower = name.toLowerCase();
  return (
    lower === "host" ||
    lower === "content-length" ||
    lower.startsWith("x-google-") ||
    lower.startsWith("x-appengine-") ||
    lower.startsWith("x-cloudtasks-") ||
    extra.includes(lower)
  );
}

function userHeaders(headers: Record<string, string>, extraReserved: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !isReserved(name, extraReserved)));
}

function taskInfoHeaders(prefix: "X-CloudTasks" | "X-AppEngine", facts: AttemptFacts): Record<string, string> {
  const headers: Record<string, string> = {
    [`${prefix}-QueueName`]: facts.queueId,
    [`${prefix}-TaskName`]: facts.taskId,
    [`${prefix}-TaskRetryCount`]: String(facts.retryCount),
    [`${prefix}-TaskExecutionCount`]: String(facts.executionCount),
    [`${prefix}-TaskETA`]: usToEpochSecondsString(facts.etaUs),
  };
  if (facts.previousHttpStatus !== undefined) headers[`${prefix}-TaskPreviousResponse`] = String(facts.previousHttpStatus);
  if (facts.retryReason) headers[`${prefix}-TaskRetryReason`] = facts.retryReason;
  return headers;
}

function deadlineMs(task: TaskRecord): number {
  return Math.max(1, Math.round((task.dispatchDeadlineUs ?? DEFAULT_DISPATCH_DEADLINE_US) / US_PER_MS));
}

export function httpTargetRequest(task: TaskRecord, target: HttpTarget, facts: AttemptFacts, signer: OidcSigner): OutgoingRequest {
  const hasToken = Boolean(target.oidcToken || target.oauthToken);
  const headers: Record<string, string> = {
    ...userHeaders(target.headers, hasToken ? ["user-agent", "authorization"] : ["user-agent"]),
    "User-Agent": "Google-Cloud-Tasks",
    ...taskInfoHeaders("X-CloudTasks", facts),
  };
  if (target.oidcToken) {
    // Like the service, the audience defaults to the full task URL, query string included.
    const token = signer.sign({ serviceAccountEmail: target.oidcToken.serviceAccountEmail, audience: target.oidcToken.audience || target.url });
    headers.Authorization = `Bearer ${token}`;
  } else if (target.oauthToken) {
    // No Google access token can be minted locally; the target only learns that one would be sent.
    headers.Authorization = "Bearer emulator-oauth-access-token";
  }
  return { method: target.method, url: target.url, headers, body: target.body, timeoutMs: deadlineMs(task), followRedirects: true };
}

export function appEngineTargetRequest(
  task: TaskRecord,
  target: AppEngineTarget,
  facts: AttemptFacts,
  appEngineBaseUrl: string,
): OutgoingRequest {
  const own = userHeaders(target.headers, []);
  const userAgentName = Object.keys(own).find((name) => name.toLowerCase() === "user-agent");
  const headers: Record<string, string> = { ...own, ...taskInfoHeaders("X-AppEngine", facts) };
  if (userAgentName) {
    headers[userAgentName] = `${own[userAgentName]} ${APP_ENGINE_USER_AGENT}`;
  } else {
    headers["User-Agent"] = APP_ENGINE_USER_AGENT;
  }
  if (target.body && !Object.keys(own).some((name) => name.toLowerCase() === "content-type")) headers["Content-Type"] = "application/octet-stream";
  // Appended to the origin rather than resolved against it: "//host/x" must not leave the app.
  const url = `${new URL(appEngineBaseUrl).origin}${target.relativeUri}`;
  return { method: target.method, url, headers, body: target.body, timeoutMs: deadlineMs(task), followRedirects: false };
}

/** The host App Engine would route to; the emulator sends every App Engine task to its one configured base URL. */
export function appEngineHost(appEngineBaseUrl: string, routing: AppEngineRouting | undefined): string {
  const base = new URL(appEngineBaseUrl).host;
  const parts = [routing?.instance, routing?.version, routing?.service].filter(Boolean);
  return parts.length ? `${parts.join(".")}.${base}` : base;
}
