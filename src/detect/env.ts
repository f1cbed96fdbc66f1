/**
 * Everything here is decided from environment variables and strings alone:
 * no I/O, so it is cheap to call on every request and trivial to test.
 */

/** An unset and an empty variable mean the same: deploy tools often write `FOO=`. */
export function readEnv(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

/** In this order: the first one set wins. */
export const PROJECT_ENV_VARS = ["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"] as const;

/**
 * CLOUD_TASKS_LOCATION comes first because the queue's location is what the
 * backend needs, and it may legitimately differ from where the service runs.
 */
export const LOCATION_ENV_VARS = ["CLOUD_TASKS_LOCATION", "CLOUD_RUN_REGION", "GOOGLE_CLOUD_REGION"] as const;

/** Only Cloud Run services (and 2nd-gen functions, which are services) have K_SERVICE and a URL; jobs do not. */
export function isCloudRun(): boolean {
  return readEnv("K_SERVICE") !== undefined;
}

export function isAppEngine(): boolean {
  return readEnv("GAE_SERVICE") !== undefined || readEnv("GAE_APPLICATION") !== undefined;
}

const GAE_PREFIX = /^([a-z]+)~/;

/**
 * GAE_APPLICATION is `<partition>~<project>`. Exactly one prefix is removed:
 * a character-set strip (Python's `lstrip("s~")`) would eat the project's own
 * leading letters ("s~sales" -> "ales").
 */
export function projectFromGaeApplication(application: string): string {
  return application.replace(GAE_PREFIX, "");
}

export function gaeApplicationPrefix(application: string): string | null {
  return GAE_PREFIX.exec(application)?.[1] ?? null;
}

/**
 * Google does not document these partition prefixes; the pairs come from
 * djangae and other projects that observed them. Used only when nothing
 * authoritative answered, and reported as a hint.
 */
export const GAE_PREFIX_REGION_HINTS: Readonly<Record<string, string>> = Object.freeze({
  s: "us-central1",
  p: "us-east1",
  d: "us-east4",
  e: "europe-west1",
  g: "europe-west2",
  h: "europe-west3",
  b: "asia-northeast1",
});

const REGION = /^[a-z]+(?:-[a-z]+)*\d+$/;

/** Accepts a bare region or the metadata server's `projects/NUMBER/regions/REGION`. */
export function regionFromMetadataRegion(value: string): string | null {
  const last = value.trim().split("/").pop() ?? "";
  return REGION.test(last) ? last : null;
}

/** Zones are a region plus one letter: `projects/N/zones/us-central1-a` -> `us-central1`. */
export function regionFromZone(value: string): string | null {
  const last = value.trim().split("/").pop() ?? "";
  const match = /^(.+)-[a-z]$/.exec(last);
  return match && REGION.test(match[1]) ? match[1] : null;
}
