import { DEFAULT_DELIVERY_LEASE_MS } from "../backends/backend.ts";
import { ConfigError } from "../errors.ts";

/** Options of a `backend: "cloudtasks"` entry; all optional, detected on App Engine and Cloud Run. */
export interface CloudTasksOptions {
  /** Google Cloud project id. Default: detected (GOOGLE_CLOUD_PROJECT, GAE_APPLICATION, metadata server). */
  project?: string;
  /** Cloud Tasks location (region). Default: detected (CLOUD_TASKS_LOCATION, CLOUD_RUN_REGION, metadata server). */
  location?: string;
  /** Full handler URL with `{task_id}`, e.g. "https://app.example.com/tasks/execute/{task_id}/". Default: detected host + handlerPath. */
  handlerUrl?: string;
  /** Path appended to the detected host. Default "/tasks/execute/{task_id}/". */
  handlerPath?: string;
  /** The service account Cloud Tasks signs OIDC tokens as; the execute and purge endpoints then require its token. */
  serviceAccountEmail?: string;
  /** OIDC audience. Default: the handler URL's origin (scheme://host). */
  audience?: string;
  /** Where OIDC verification gets certificates (PEM map). Default: Google's. Set to the emulator's URL locally. */
  oidcCertsUrl?: string;
  /** Token issuers accepted in addition to Google's (e.g. the emulator's). */
  oidcIssuers?: string[];
  /**
   * Accept Cloud Tasks deliveries without an OIDC token. Only for a handler that
   * something else already protects (e.g. Cloud Run ingress with IAM). Default false:
   * without serviceAccountEmail, deliveries are refused (fail closed).
   */
  allowUnauthenticatedDelivery?: boolean;
  /** host:port of a Cloud Tasks emulator. Default: the CLOUD_TASKS_EMULATOR_HOST variable. */
  emulatorHost?: string;
  /** How long Cloud Tasks waits for the handler's answer, in seconds (15..1800). Default: Cloud Tasks' (600). */
  dispatchDeadlineSeconds?: number;
  /** App Engine default hostname (e.g. "my-app.uc.r.appspot.com") for building the handler URL. */
  appEngineHostname?: string;
  /** App Engine region id (e.g. "uc") for building the handler URL. */
  appEngineRegionId?: string;
  /** Rows left undispatched this long are dispatched by the maintenance pass (seconds). Default 60. */
  redispatchAfterSeconds?: number;
  /**
   * How long a delivery's hold (lease) on a task outlives its last renewal, in seconds;
   * renewed every third of it while the task runs. A handler instance that dies
   * leaves its task to the next delivery after at most this long. Default 30.
   */
  leaseSeconds?: number;
  /**
   * A READY task still waiting this long after its Cloud Task was created (and due as long)
   * has its Cloud Task looked up by the maintenance pass (GetTask). Default 120.
   */
  verifyAfterSeconds?: number;
  /**
   * What the maintenance pass does with a READY task whose Cloud Task no longer exists
   * (Cloud Tasks ran out of attempts or retry time, or it was deleted): "recreate" it
   * under a new name (default), or mark the task "fail"ed (FAILED, error CloudTaskLost).
   */
  lostCloudTask?: "recreate" | "fail";
}

export const DEFAULT_DELIVERY_LEASE_SECONDS = DEFAULT_DELIVERY_LEASE_MS / 1000;
export const DEFAULT_REDISPATCH_AFTER_SECONDS = 60;
export const DEFAULT_VERIFY_AFTER_SECONDS = 120;

const KEYS: Array<keyof CloudTasksOptions> = [
  "project",
  "location",
  "handlerUrl",
  "handlerPath",
  "serviceAccountEmail",
  "audience",
  "oidcCertsUrl",
  "oidcIssuers",
  "allowUnauthenticatedDelivery",
  "emulatorHost",
  "dispatchDeadlineSeconds",
  "appEngineHostname",
  "appEngineRegionId",
  "redispatchAfterSeconds",
  "leaseSeconds",
  "verifyAfterSeconds",
  "lostCloudTask",
];

/** django-database-task's OPTIONS names, accepted so a migrated config reads the same. */
const DJANGO_NAMES: Record<string, keyof CloudTasksOptions> = {
  CLOUD_TASKS_PROJECT: "project",
  CLOUD_TASKS_LOCATION: "location",
  TASK_HANDLER_URL: "handlerUrl",
  TASK_HANDLER_PATH: "handlerPath",
  OIDC_SERVICE_ACCOUNT_EMAIL: "serviceAccountEmail",
  OIDC_AUDIENCE: "audience",
};

export function parseCloudTasksOptions(backendName: string, raw: Record<string, unknown>): CloudTasksOptions {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const name = DJANGO_NAMES[key] ?? key;
    if (!KEYS.includes(name as keyof CloudTasksOptions)) {
      throw new ConfigError(`Unknown option "${key}" in backends.${backendName}.options; known options: ${KEYS.join(", ")}.`);
    }
    if (value !== undefined) options[name] = value;
  }
  const o = options as CloudTasksOptions;
  const where = (field: string) => `backends.${backendName}.options.${field}`;
  for (const field of ["project", "location", "handlerUrl", "handlerPath", "serviceAccountEmail", "audience", "oidcCertsUrl", "emulatorHost"] as const) {
    if (o[field] !== undefined && (typeof o[field] !== "string" || o[field] === "")) {
      throw new ConfigError(`${where(field)} must be a non-empty string.`);
    }
  }
  if (o.handlerUrl !== undefined) {
    if (!o.handlerUrl.includes("{task_id}")) throw new ConfigError(`${where("handlerUrl")} must contain "{task_id}", where the task id goes.`);
    if (!/^https?:\/\//.test(o.handlerUrl)) throw new ConfigError(`${where("handlerUrl")} must be an http(s) URL.`);
  }
  if (o.handlerPath !== undefined && (!o.handlerPath.startsWith("/") || !o.handlerPath.includes("{task_id}"))) {
    throw new ConfigError(`${where("handlerPath")} must start with "/" and contain "{task_id}".`);
  }
  if (o.oidcIssuers !== undefined && (!Array.isArray(o.oidcIssuers) || o.oidcIssuers.some((i) => typeof i !== "string"))) {
    throw new ConfigError(`${where("oidcIssuers")} must be an array of issuer strings.`);
  }
  const deadline = o.dispatchDeadlineSeconds;
  if (deadline !== undefined && (typeof deadline !== "number" || !Number.isInteger(deadline) || deadline < 15 || deadline > 1800)) {
    throw new ConfigError(`${where("dispatchDeadlineSeconds")} must be a whole number of seconds from 15 to 1800.`);
  }
  for (const field of ["redispatchAfterSeconds", "verifyAfterSeconds"] as const) {
    const seconds = o[field];
    if (seconds !== undefined && (typeof seconds !== "number" || !Number.isFinite(seconds) || !(seconds > 0))) {
      throw new ConfigError(`${where(field)} must be a number of seconds > 0.`);
    }
  }
  const lease = o.leaseSeconds;
  // Renewed every third of it: under 3 s the renewals would be a stream of writes; over an hour a dead instance's task waits too long.
  if (lease !== undefined && (typeof lease !== "number" || !Number.isFinite(lease) || lease < 3 || lease > 3600)) {
    throw new ConfigError(`${where("leaseSeconds")} must be a number of seconds from 3 to 3600.`);
  }
  if (o.lostCloudTask !== undefined && o.lostCloudTask !== "recreate" && o.lostCloudTask !== "fail") {
    throw new ConfigError(`${where("lostCloudTask")} must be "recreate" or "fail"; got ${JSON.stringify(o.lostCloudTask)}.`);
  }
  return o;
}
