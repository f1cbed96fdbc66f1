/**
 * Public origins of the running service, built from parts already detected.
 * Each builder returns the origin or the reason there is none, because a
 * wrong URL would only show up later as Cloud Tasks deliveries that 404.
 */

export type Built = { origin: string; note: string | null } | { origin: null; note: string };

/** A DNS label, and so the first part of these hostnames, holds at most 63 characters. */
const MAX_LABEL = 63;

export function cloudRunOrigin(service: string, projectNumber: string, region: string): Built {
  const label = `${service}-${projectNumber}`.toLowerCase();
  if (label.length > MAX_LABEL) {
    return {
      origin: null,
      note:
        `"${label}" is ${label.length} characters, over the 63 a hostname label allows, so this service has no ` +
        `https://SERVICE-PROJECT_NUMBER.REGION.run.app URL, only the hash URL shown by \`gcloud run services describe\``,
    };
  }
  return { origin: `https://${label}.${region}.run.app`, note: null };
}

export interface AppEngineParts {
  project: string | null;
  service: string;
  version: string | null;
  /** The app's defaultHostname, e.g. `my-app.uc.r.appspot.com`. */
  hostname: string | null;
  regionId: string | null;
}

/** Tolerates what people paste: a scheme, a trailing slash, capitals. */
export function normalizeHostname(value: string): string | null {
  const host = value
    .trim()
    .replace(/^https?:\/\//i, "")
    .replace(/\/+$/, "")
    .toLowerCase();
  return /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/.test(host) ? host : null;
}

export function isRegionId(value: string): boolean {
  return /^[a-z][a-z0-9]*$/.test(value);
}

/**
 * `-dot-` instead of `.` keeps the name one level under the wildcard
 * certificate. The version is pinned so a task is handled by the code that
 * enqueued it, even while traffic moves to another version.
 */
export function appEngineOrigin(parts: AppEngineParts): Built {
  const prefix = [parts.version, parts.service === "default" ? null : parts.service]
    .filter((part): part is string => part !== null)
    .map((part) => `${part}-dot-`)
    .join("");
  const unpinned = parts.version ? null : "GAE_VERSION is not set, so the URL is not pinned to a version";

  if (parts.hostname) {
    const [appLabel, ...rest] = parts.hostname.split(".");
    return finish(`${prefix}${appLabel}`, rest.join("."), unpinned);
  }
  if (!parts.project) return { origin: null, note: "the project is unknown" };
  if (parts.project.includes(":")) {
    return {
      origin: null,
      note: `"${parts.project}" is a domain-scoped project, whose appspot.com hostname cannot be derived; set APPENGINE_DEFAULT_HOSTNAME (or the appEngineHostname option) to the app's defaultHostname`,
    };
  }
  if (parts.regionId) return finish(`${prefix}${parts.project}`, `${parts.regionId}.r.appspot.com`, unpinned);
  return finish(
    `${prefix}${parts.project}`,
    "appspot.com",
    "the App Engine region id is not configured, so the legacy PROJECT.appspot.com form is used; " +
      "set APPENGINE_REGION_ID (or APPENGINE_DEFAULT_HOSTNAME) for the documented REGION_ID.r.appspot.com form" +
      (unpinned ? `; ${unpinned}` : ""),
  );
}

function finish(label: string, domain: string, note: string | null): Built {
  if (label.length > MAX_LABEL) {
    return {
      origin: null,
      note: `"${label}" is ${label.length} characters, over the 63 a hostname label allows; use shorter version or service names, or set the handler URL`,
    };
  }
  return { origin: `https://${label}.${domain}`, note };
}
