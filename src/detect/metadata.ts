/**
 * Bounded, cached reads from the metadata server through gcp-metadata.
 *
 * gcp-metadata alone can wait far longer than a caller should: off Google
 * Cloud its probe waits up to 3 s, on a host it believes is Google Cloud it
 * sets no timeout at all, and value reads retry with back-off. So every read
 * here races a deadline chosen by the caller and never rejects.
 */
import type * as GcpMetadata from "gcp-metadata";
import { isAppEngine } from "./env.ts";

type GcpMetadataModule = typeof GcpMetadata;

export type MetadataPath = "project/project-id" | "project/numeric-project-id" | "instance/region" | "instance/zone";

export interface MetadataAnswer {
  value: unknown;
  /** Why there is no value; null when there is one. */
  problem: string | null;
  /** False for failures that may pass (timeouts, 5xx): those are not cached, so a later call asks again. */
  definitive: boolean;
}

interface Availability {
  available: boolean;
  problem: string | null;
  definitive: boolean;
}

const TIMED_OUT: unique symbol = Symbol("timed out");

/** The timer is not unref'd: a script awaiting detection must not exit with the promise unsettled. */
function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) {
    promise.catch(() => {});
    return Promise.resolve(TIMED_OUT);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(TIMED_OUT), remaining);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

// Loaded on first use so that importing database-task/detect stays free of gaxios & co.
let modulePromise: Promise<GcpMetadataModule> | undefined;
let gcpMetadataResetPending = false;

async function gcpMetadata(): Promise<GcpMetadataModule> {
  modulePromise ??= import("gcp-metadata");
  const mod = await modulePromise;
  if (gcpMetadataResetPending) {
    gcpMetadataResetPending = false;
    // Deferred to first use so its residency guess sees the environment of the new scenario.
    mod.resetIsAvailableCache();
    mod.setGCPResidency(null);
  }
  return mod;
}

let availabilityCache: Promise<Availability> | undefined;
const answerCache = new Map<MetadataPath, Promise<MetadataAnswer>>();

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { response?: { status?: unknown } }).response?.status;
    return typeof status === "number" ? `HTTP ${status}` : error.message || error.name;
  }
  return String(error);
}

async function probeAvailability(deadline: number): Promise<Availability> {
  try {
    const mod = await gcpMetadata();
    const available = await beforeDeadline(mod.isAvailable(), deadline);
    if (available === TIMED_OUT) {
      // Off Google Cloud a silent 169.254.169.254 is the normal case and worth
      // remembering; on Google Cloud it can only be a hiccup, so ask again later.
      const expected = mod.getGCPResidency() || isAppEngine();
      // gcp-metadata keeps its probe promise, and on Google Cloud that probe has
      // no timeout: without a reset, one lost request would stall every later call.
      if (expected) mod.resetIsAvailableCache();
      return { available: false, problem: "the metadata server did not answer in time", definitive: !expected };
    }
    return available
      ? { available: true, problem: null, definitive: true }
      : {
          available: false,
          problem: process.env.METADATA_SERVER_DETECTION?.trim()
            ? `the metadata server is not used (METADATA_SERVER_DETECTION=${process.env.METADATA_SERVER_DETECTION.trim()})`
            : "no metadata server is reachable",
          definitive: true,
        };
  } catch (error) {
    // isAvailable() throws only for a bad METADATA_SERVER_DETECTION value, which will not fix itself.
    return { available: false, problem: `metadata server detection failed: ${describeError(error)}`, definitive: true };
  }
}

export function metadataServerAvailability(deadline: number): Promise<Availability> {
  if (!availabilityCache) {
    const pending = probeAvailability(deadline);
    availabilityCache = pending;
    void pending.then((result) => {
      if (!result.definitive && availabilityCache === pending) availabilityCache = undefined;
    });
  }
  return availabilityCache;
}

async function readValue(path: MetadataPath, deadline: number): Promise<MetadataAnswer> {
  try {
    const availability = await metadataServerAvailability(deadline);
    if (!availability.available) {
      return { value: null, problem: availability.problem, definitive: availability.definitive };
    }
    const mod = await gcpMetadata();
    const [kind, property] = path.split("/") as ["project" | "instance", string];
    const answer = await beforeDeadline(kind === "project" ? mod.project(property) : mod.instance(property), deadline);
    if (answer === TIMED_OUT) {
      return { value: null, problem: `the metadata server did not answer ${path} in time`, definitive: false };
    }
    return { value: answer, problem: null, definitive: true };
  } catch (error) {
    const status = (error as { response?: { status?: unknown } } | null)?.response?.status;
    if (status === 404) return { value: null, problem: `the metadata server has no ${path}`, definitive: true };
    return { value: null, problem: `the metadata server failed on ${path}: ${describeError(error)}`, definitive: false };
  }
}

/** Asks the server at most once per path for the life of the process, unless the failure may pass. */
export function metadataValue(path: MetadataPath, deadline: number): Promise<MetadataAnswer> {
  let pending = answerCache.get(path);
  if (!pending) {
    const created = readValue(path, deadline);
    pending = created;
    answerCache.set(path, created);
    void created.then((result) => {
      if (!result.definitive && answerCache.get(path) === created) answerCache.delete(path);
    });
  }
  return pending;
}

/**
 * gcp-metadata parses bodies as JSON with json-bigint, so a project number
 * arrives as a number, or as a BigNumber once it is too long for a double.
 */
export function metadataText(value: unknown): string | null {
  if (typeof value === "string") return value.trim() || null;
  if (typeof value === "number") return Number.isSafeInteger(value) ? String(value) : null;
  if (typeof value === "bigint") return value.toString();
  if (value !== null && typeof value === "object" && typeof (value as { toFixed?: unknown }).toFixed === "function") {
    // BigNumber#toString switches to exponent notation for long values; toFixed() never does.
    return String((value as { toFixed(): unknown }).toFixed());
  }
  return null;
}

export function resetMetadataCache(): void {
  availabilityCache = undefined;
  answerCache.clear();
  gcpMetadataResetPending = true;
}
