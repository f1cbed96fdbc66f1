import { invalidArgument } from "./rpc-error.ts";
import type { AppEngineTarget, HttpMethod, HttpTarget } from "./model.ts";
import type { AppEngineRouting } from "./queue-config.ts";
import { protoToUs, US_PER_SECOND, type ProtoSecondsNanos } from "./time.ts";

export interface ProtoHttpRequest {
  url?: string;
  httpMethod?: string;
  headers?: Record<string, string> | null;
  body?: Buffer | Uint8Array | null;
  oauthToken?: { serviceAccountEmail?: string; scope?: string } | null;
  oidcToken?: { serviceAccountEmail?: string; audience?: string } | null;
}

export interface ProtoAppEngineHttpRequest {
  httpMethod?: string;
  appEngineRouting?: AppEngineRouting | null;
  relativeUri?: string;
  headers?: Record<string, string> | null;
  body?: Buffer | Uint8Array | null;
}

/** The Task message as @grpc/proto-loader decodes it. */
export interface ProtoTask {
  name?: string;
  httpRequest?: ProtoHttpRequest | null;
  appEngineHttpRequest?: ProtoAppEngineHttpRequest | null;
  scheduleTime?: ProtoSecondsNanos | null;
  dispatchDeadline?: ProtoSecondsNanos | null;
}

export interface TaskLimits {
  /** HTTP targets: 1 MB per the quotas page. */
  maxTaskSizeBytes: number;
  /** App Engine targets: 100 KB. */
  maxAppEngineTaskSizeBytes: number;
}

export interface ValidatedTaskSpec {
  target: HttpTarget | AppEngineTarget;
  /** Unset when the task did not ask for a time (it then runs now). */
  scheduleTimeUs?: number;
  dispatchDeadlineUs?: number;
}

const METHODS = new Set<HttpMethod>(["POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]);
const MAX_URL_LENGTH = 2083;
const MAX_HEADERS_BYTES = 80 * 1024;
const MAX_SCHEDULE_AHEAD_US = 30 * 24 * 3600 * US_PER_SECOND;
const MAX_HTTP_DEADLINE_US = 30 * 60 * US_PER_SECOND;
const MAX_APP_ENGINE_DEADLINE_US = (24 * 3600 + 15) * US_PER_SECOND;

function method(value: string | undefined): HttpMethod {
  if (!value || value === "HTTP_METHOD_UNSPECIFIED") return "POST";
  if (!METHODS.has(value as HttpMethod)) throw invalidArgument(`Unsupported http_method "${value}".`);
  return value as HttpMethod;
}

function body(value: Buffer | Uint8Array | null | undefined, httpMethod: HttpMethod, allowed: readonly HttpMethod[]): Buffer | undefined {
  if (!value || value.length === 0) return undefined;
  if (!allowed.includes(httpMethod)) {
    throw invalidArgument(`A body is allowed only with http_method ${allowed.join(", ")}; this task uses ${httpMethod}.`);
  }
  return Buffer.from(value);
}

function headers(value: Record<string, string> | null | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  let size = 0;
  for (const [name, headerValue] of Object.entries(value ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw invalidArgument(`Invalid header name "${name}".`);
    // What HTTP/1.1 can carry in a field value (Node refuses the rest at send time).
    if (/[^\t\x20-\x7e\x80-\xff]/.test(headerValue)) throw invalidArgument(`Invalid value for header "${name}".`);
    result[name] = headerValue;
    size += Buffer.byteLength(name) + Buffer.byteLength(headerValue);
  }
  if (size >= MAX_HEADERS_BYTES) throw invalidArgument("The size of the headers must be less than 80KB.");
  return result;
}

function serviceAccount(email: string | undefined, field: string): string {
  if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) throw invalidArgument(`${field}.service_account_email must be a service account email.`);
  return email;
}

function httpTarget(request: ProtoHttpRequest): HttpTarget {
  const url = request.url ?? "";
  if (!url) throw invalidArgument("http_request.url is required.");
  if (url.length > MAX_URL_LENGTH) throw invalidArgument(`http_request.url must be at most ${MAX_URL_LENGTH} characters.`);
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) throw invalidArgument(`http_request.url "${url}" must be an absolute http:// or https:// URL.`);
  const httpMethod = method(request.httpMethod);
  const target: HttpTarget = {
    kind: "http",
    url,
    method: httpMethod,
    headers: headers(request.headers),
    body: body(request.body, httpMethod, ["POST", "PUT", "PATCH"]),
  };
  if (request.oidcToken) {
    target.oidcToken = { serviceAccountEmail: serviceAccount(request.oidcToken.serviceAccountEmail, "oidc_token") };
    if (request.oidcToken.audience) target.oidcToken.audience = request.oidcToken.audience;
  } else if (request.oauthToken) {
    target.oauthToken = { serviceAccountEmail: serviceAccount(request.oauthToken.serviceAccountEmail, "oauth_token") };
    if (request.oauthToken.scope) target.oauthToken.scope = request.oauthToken.scope;
  }
  return target;
}

function appEngineTarget(request: ProtoAppEngineHttpRequest): AppEngineTarget {
  const relativeUri = request.relativeUri || "/";
  if (!relativeUri.startsWith("/") || /\s/.test(relativeUri) || relativeUri.length > MAX_URL_LENGTH) {
    throw invalidArgument(`app_engine_http_request.relative_uri "${relativeUri}" must start with "/", contain no spaces and be at most ${MAX_URL_LENGTH} characters.`);
  }
  const httpMethod = method(request.httpMethod);
  const routing = request.appEngineRouting;
  return {
    kind: "appEngine",
    method: httpMethod,
    relativeUri,
    headers: headers(request.headers),
    body: body(request.body, httpMethod, ["POST", "PUT"]),
    ...(routing && (routing.service || routing.version || routing.instance)
      ? { routing: { service: routing.service || undefined, version: routing.version || undefined, instance: routing.instance || undefined } }
      : {}),
  };
}

/** Roughly what the serialized task weighs; the limit is about the payload, so the small fixed fields are left out. */
function approximateSize(name: string, target: HttpTarget | AppEngineTarget): number {
  let size = Buffer.byteLength(name) + (target.body?.length ?? 0);
  size += Buffer.byteLength(target.kind === "http" ? target.url : target.relativeUri);
  for (const [headerName, value] of Object.entries(target.headers)) size += Buffer.byteLength(headerName) + Buffer.byteLength(value);
  if (target.kind === "http") {
    size += Buffer.byteLength(target.oidcToken?.serviceAccountEmail ?? "") + Buffer.byteLength(target.oidcToken?.audience ?? "");
    size += Buffer.byteLength(target.oauthToken?.serviceAccountEmail ?? "") + Buffer.byteLength(target.oauthToken?.scope ?? "");
  }
  return size;
}

/** Checks a CreateTask task the way the service does and returns what the emulator keeps of it. */
export function validateTaskSpec(task: ProtoTask, taskName: string, now: number, limits: TaskLimits): ValidatedTaskSpec {
  if (task.httpRequest && task.appEngineHttpRequest) throw invalidArgument("Only one of http_request and app_engine_http_request may be set.");
  let target: HttpTarget | AppEngineTarget;
  if (task.httpRequest) target = httpTarget(task.httpRequest);
  else if (task.appEngineHttpRequest) target = appEngineTarget(task.appEngineHttpRequest);
  else throw invalidArgument("The task must set http_request or app_engine_http_request.");

  const scheduleTimeUs = protoToUs(task.scheduleTime);
  if (scheduleTimeUs !== undefined && scheduleTimeUs > now + MAX_SCHEDULE_AHEAD_US) {
    throw invalidArgument("The task's schedule_time must be at most 30 days in the future.");
  }

  // The real minimum deadline (15 s) is not enforced, so tests can exercise timeouts quickly.
  let dispatchDeadlineUs = protoToUs(task.dispatchDeadline);
  if (dispatchDeadlineUs === 0 && target.kind === "appEngine") dispatchDeadlineUs = undefined;
  if (dispatchDeadlineUs !== undefined) {
    const max = target.kind === "http" ? MAX_HTTP_DEADLINE_US : MAX_APP_ENGINE_DEADLINE_US;
    if (dispatchDeadlineUs <= 0 || dispatchDeadlineUs > max) {
      throw invalidArgument(
        target.kind === "http"
          ? "dispatch_deadline must be positive and at most 30 minutes for HTTP tasks."
          : "dispatch_deadline must be positive and at most 24 hours 15 seconds for App Engine tasks.",
      );
    }
  }

  const limit = target.kind === "http" ? limits.maxTaskSizeBytes : limits.maxAppEngineTaskSizeBytes;
  if (approximateSize(taskName, target) > limit) throw invalidArgument("Task size too large");
  return { target, scheduleTimeUs, dispatchDeadlineUs };
}
