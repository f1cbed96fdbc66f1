/**
 * `database-task/detect`: where is this process running, and what are its
 * Google Cloud project, location and public URL?
 *
 * Scripts and other apps import this on its own, so it must stay light:
 * nothing here loads the database layer or Express, and nothing touches the
 * network until a detect* function needs the metadata server.
 */
import { ConfigError } from "../errors.ts";
import {
  GAE_PREFIX_REGION_HINTS,
  LOCATION_ENV_VARS,
  PROJECT_ENV_VARS,
  gaeApplicationPrefix,
  isAppEngine,
  isCloudRun,
  projectFromGaeApplication,
  readEnv,
  regionFromMetadataRegion,
  regionFromZone,
} from "./env.ts";
import { metadataServerAvailability, metadataText, metadataValue, resetMetadataCache } from "./metadata.ts";
import { appEngineOrigin, cloudRunOrigin, isRegionId, normalizeHostname } from "./urls.ts";

export { isAppEngine, isCloudRun };

/**
 * The most a detect* call waits for the metadata server, all lookups of that
 * call together: on Google Cloud it answers in milliseconds, so anything
 * slower means there is none worth waiting for.
 */
export const DETECTION_TIMEOUT_MS = 1800;

export type Platform = "cloud-run" | "app-engine" | "other";

/** A detected value with where it came from, or why there is none. */
export interface DetectedValue {
  value: string | null;
  /** e.g. `env:GOOGLE_CLOUD_PROJECT`, `metadata:instance/region`, `option:appEngineHostname`. */
  source: string | null;
  /** Why the value is null, or a caveat about it (a hint, a legacy URL form). */
  note: string | null;
}

export interface TaskHandlerHostOptions {
  /** The app's defaultHostname (`gcloud app describe`), e.g. `my-app.uc.r.appspot.com`. Env: APPENGINE_DEFAULT_HOSTNAME. */
  appEngineHostname?: string;
  /** The app's region id, e.g. `uc`, the part before `.r.appspot.com`. Env: APPENGINE_REGION_ID. */
  appEngineRegionId?: string;
}

export interface RequireOptions {
  /** The option named in the error message; defaults to the cloudtasks backend's name for it. */
  optionName?: string;
}

export interface EnvironmentDescription {
  platform: Platform;
  project: DetectedValue;
  projectNumber: DetectedValue;
  location: DetectedValue;
  taskHandlerHost: DetectedValue;
  metadataServer: { available: boolean; note: string | null };
  cloudRun: { service: string; revision: string | null; configuration: string | null } | null;
  appEngine: { application: string | null; service: string; version: string | null; instance: string | null } | null;
}

const found = (value: string, source: string, note: string | null = null): DetectedValue => ({ value, source, note });
const missing = (note: string): DetectedValue => ({ value: null, source: null, note });

function newDeadline(): number {
  return Date.now() + DETECTION_TIMEOUT_MS;
}

export function detectPlatform(): Platform {
  if (isCloudRun()) return "cloud-run";
  if (isAppEngine()) return "app-engine";
  return "other";
}

async function findProject(deadline: number): Promise<DetectedValue> {
  for (const name of PROJECT_ENV_VARS) {
    const value = readEnv(name);
    if (value) return found(value, `env:${name}`);
  }
  const application = readEnv("GAE_APPLICATION");
  if (application) {
    const project = projectFromGaeApplication(application);
    if (project) return found(project, "env:GAE_APPLICATION");
  }
  const answer = await metadataValue("project/project-id", deadline);
  const project = metadataText(answer.value);
  if (project) return found(project, "metadata:project/project-id");
  return missing(`none of ${[...PROJECT_ENV_VARS, "GAE_APPLICATION"].join(", ")} is set and ${answer.problem ?? "the metadata server gave no project id"}`);
}

async function findProjectNumber(deadline: number): Promise<DetectedValue> {
  const answer = await metadataValue("project/numeric-project-id", deadline);
  const text = metadataText(answer.value);
  if (text && /^\d+$/.test(text)) return found(text, "metadata:project/numeric-project-id");
  if (text) return missing(`the metadata server gave a project number that is not a number: "${text}"`);
  return missing(answer.problem ?? "the metadata server gave no project number");
}

async function metadataRegion(deadline: number): Promise<DetectedValue> {
  const answer = await metadataValue("instance/region", deadline);
  const raw = metadataText(answer.value);
  const region = raw ? regionFromMetadataRegion(raw) : null;
  if (region) return found(region, "metadata:instance/region");
  return missing(raw ? `unrecognised instance/region "${raw}"` : (answer.problem ?? "no instance/region"));
}

async function findLocation(deadline: number): Promise<DetectedValue> {
  for (const name of LOCATION_ENV_VARS) {
    const value = readEnv(name);
    if (value) return found(value, `env:${name}`);
  }
  const region = await metadataRegion(deadline);
  if (region.value) return region;

  const answer = await metadataValue("instance/zone", deadline);
  const zone = metadataText(answer.value);
  const fromZone = zone ? regionFromZone(zone) : null;
  if (fromZone) return found(fromZone, "metadata:instance/zone");

  const application = readEnv("GAE_APPLICATION");
  const prefix = application ? gaeApplicationPrefix(application) : null;
  const hint = prefix && isAppEngine() ? GAE_PREFIX_REGION_HINTS[prefix] : undefined;
  if (hint) {
    return found(
      hint,
      "hint:GAE_APPLICATION",
      `guessed from the undocumented "${prefix}~" prefix of GAE_APPLICATION; set CLOUD_TASKS_LOCATION to be sure`,
    );
  }
  const problems = new Set([region.note, zone ? `unrecognised instance/zone "${zone}"` : (answer.problem ?? "no instance/zone")]);
  return missing(`none of ${LOCATION_ENV_VARS.join(", ")} is set, and no region or zone came from the metadata server: ${[...problems].join("; ")}`);
}

/**
 * The run.app URL is built with the region the service runs in, which the
 * metadata server knows; CLOUD_TASKS_LOCATION names the queue's region and may differ.
 */
async function findCloudRunRegion(deadline: number): Promise<DetectedValue> {
  const region = await metadataRegion(deadline);
  if (region.value) return region;
  const fromEnv = readEnv("CLOUD_RUN_REGION");
  if (fromEnv) return found(fromEnv, "env:CLOUD_RUN_REGION");
  return missing(`${region.note}, and CLOUD_RUN_REGION is not set`);
}

function appEngineLocation(options: TaskHandlerHostOptions): { hostname: string | null; regionId: string | null; source: string; problem: string | null } {
  const candidates: Array<[string, string | undefined, "hostname" | "regionId"]> = [
    ["option:appEngineHostname", options.appEngineHostname, "hostname"],
    ["option:appEngineRegionId", options.appEngineRegionId, "regionId"],
    ["env:APPENGINE_DEFAULT_HOSTNAME", readEnv("APPENGINE_DEFAULT_HOSTNAME"), "hostname"],
    ["env:APPENGINE_REGION_ID", readEnv("APPENGINE_REGION_ID"), "regionId"],
  ];
  for (const [source, raw, kind] of candidates) {
    const value = raw?.trim();
    if (!value) continue;
    if (kind === "hostname") {
      const hostname = normalizeHostname(value);
      if (!hostname) return { hostname: null, regionId: null, source, problem: `${source.replace(/^\w+:/, "")} "${value}" is not a hostname` };
      return { hostname, regionId: null, source, problem: null };
    }
    const regionId = value.toLowerCase();
    if (!isRegionId(regionId)) return { hostname: null, regionId: null, source, problem: `${source.replace(/^\w+:/, "")} "${value}" is not a region id such as "uc"` };
    return { hostname: null, regionId, source, problem: null };
  }
  return { hostname: null, regionId: null, source: "legacy", problem: null };
}

async function findTaskHandlerHost(options: TaskHandlerHostOptions, deadline: number): Promise<DetectedValue> {
  if (isCloudRun()) {
    const service = readEnv("K_SERVICE")!;
    const [number, region] = await Promise.all([findProjectNumber(deadline), findCloudRunRegion(deadline)]);
    if (!number.value) return missing(`on Cloud Run, but the project number is unknown: ${number.note}`);
    if (!region.value) return missing(`on Cloud Run, but its region is unknown: ${region.note}`);
    const built = cloudRunOrigin(service, number.value, region.value);
    return built.origin ? found(built.origin, "cloud-run:K_SERVICE+metadata", built.note) : missing(`on Cloud Run, but ${built.note}`);
  }
  if (isAppEngine()) {
    const where = appEngineLocation(options);
    if (where.problem) return missing(`on App Engine, but ${where.problem}`);
    const project = where.hostname ? null : await findProject(deadline);
    if (project && !project.value) return missing(`on App Engine, but the project is unknown: ${project.note}`);
    const built = appEngineOrigin({
      project: project?.value ?? null,
      service: readEnv("GAE_SERVICE") ?? "default",
      version: readEnv("GAE_VERSION") ?? null,
      hostname: where.hostname,
      regionId: where.regionId,
    });
    const source = where.source === "legacy" ? "app-engine:legacy" : `app-engine:${where.source}`;
    return built.origin ? found(built.origin, source, built.note) : missing(`on App Engine, but ${built.note}`);
  }
  return missing("not running on Cloud Run (K_SERVICE) or App Engine (GAE_SERVICE, GAE_APPLICATION)");
}

/** The project id: GOOGLE_CLOUD_PROJECT (or GCLOUD_PROJECT, GCP_PROJECT), GAE_APPLICATION, then the metadata server. */
export async function detectGcpProject(): Promise<string | null> {
  return (await findProject(newDeadline())).value;
}

/** The numeric project number, from the metadata server only, as a string (it can exceed 2^53 in principle). */
export async function detectGcpProjectNumber(): Promise<string | null> {
  return (await findProjectNumber(newDeadline())).value;
}

/** The region for Cloud Tasks: CLOUD_TASKS_LOCATION, CLOUD_RUN_REGION, GOOGLE_CLOUD_REGION, metadata region, metadata zone, then an App Engine hint. */
export async function detectGcpLocation(): Promise<string | null> {
  return (await findLocation(newDeadline())).value;
}

/** The public https origin of this service (no trailing slash), where Cloud Tasks should send requests; null off Cloud Run / App Engine. */
export async function detectTaskHandlerHost(options: TaskHandlerHostOptions = {}): Promise<string | null> {
  return (await findTaskHandlerHost(options, newDeadline())).value;
}

/** The detected origin joined with `path`, which is kept as written (so `{task_id}` placeholders survive). */
export async function detectTaskHandlerUrl(path: string, options: TaskHandlerHostOptions = {}): Promise<string | null> {
  const host = await detectTaskHandlerHost(options);
  if (!host) return null;
  return `${host}${path.startsWith("/") ? "" : "/"}${path}`;
}

/** Everything detected, with sources and reasons: for logs, diagnostics and the CLI. */
export async function describeEnvironment(options: TaskHandlerHostOptions = {}): Promise<EnvironmentDescription> {
  const deadline = newDeadline();
  const [availability, project, projectNumber, location, taskHandlerHost] = await Promise.all([
    metadataServerAvailability(deadline),
    findProject(deadline),
    findProjectNumber(deadline),
    findLocation(deadline),
    findTaskHandlerHost(options, deadline),
  ]);
  const platform = detectPlatform();
  return {
    platform,
    project,
    projectNumber,
    location,
    taskHandlerHost,
    metadataServer: { available: availability.available, note: availability.problem },
    cloudRun:
      platform === "cloud-run"
        ? { service: readEnv("K_SERVICE")!, revision: readEnv("K_REVISION") ?? null, configuration: readEnv("K_CONFIGURATION") ?? null }
        : null,
    appEngine:
      platform === "app-engine"
        ? {
            application: readEnv("GAE_APPLICATION") ?? null,
            service: readEnv("GAE_SERVICE") ?? "default",
            version: readEnv("GAE_VERSION") ?? null,
            instance: readEnv("GAE_INSTANCE") ?? null,
          }
        : null,
  };
}

export async function requireGcpProject(options: RequireOptions = {}): Promise<string> {
  const project = await findProject(newDeadline());
  if (project.value) return project.value;
  throw new ConfigError(
    `Could not detect the Google Cloud project: set \`${options.optionName ?? "project"}\` in the cloudtasks backend options or the GOOGLE_CLOUD_PROJECT environment variable. Reason: ${project.note}.`,
  );
}

export async function requireGcpLocation(options: RequireOptions = {}): Promise<string> {
  const location = await findLocation(newDeadline());
  if (location.value) return location.value;
  throw new ConfigError(
    `Could not detect the Google Cloud location of the Cloud Tasks queues: set \`${options.optionName ?? "location"}\` in the cloudtasks backend options or the CLOUD_TASKS_LOCATION environment variable. Reason: ${location.note}.`,
  );
}

export async function requireTaskHandlerHost(options: TaskHandlerHostOptions & RequireOptions = {}): Promise<string> {
  const host = await findTaskHandlerHost(options, newDeadline());
  if (host.value) return host.value;
  throw new ConfigError(
    `Could not detect the URL Cloud Tasks should call: set \`${options.optionName ?? "handlerUrl"}\` in the cloudtasks backend options. Reason: ${host.note}.`,
  );
}

/** Forgets every cached answer, including gcp-metadata's own, so the next call looks again. For tests. */
export function resetDetectionCache(): void {
  resetMetadataCache();
}
