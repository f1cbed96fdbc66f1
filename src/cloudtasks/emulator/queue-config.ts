import { invalidArgument } from "./rpc-error.ts";
import { protoToUs, US_PER_SECOND, usToProto, type ProtoSecondsNanos } from "./time.ts";

/** Retry settings of a queue, durations in microseconds. */
export interface RetrySettings {
  /** Attempts per task including the first; -1 = unlimited. */
  maxAttempts: number;
  /** 0 = no age limit. */
  maxRetryDurationUs: number;
  minBackoffUs: number;
  maxBackoffUs: number;
  maxDoublings: number;
}

export interface RateSettings {
  maxDispatchesPerSecond: number;
  maxConcurrentDispatches: number;
  /** Output only in the API: derived from the dispatch rate. */
  maxBurstSize: number;
}

export interface AppEngineRouting {
  service?: string;
  version?: string;
  instance?: string;
  host?: string;
}

export interface QueueSettings {
  retry: RetrySettings;
  rate: RateSettings;
  appEngineRoutingOverride?: AppEngineRouting;
  loggingSamplingRatio?: number;
}

/** The Queue message as @grpc/proto-loader decodes it (camelCase, longs as strings, enums as names). */
export interface ProtoQueue {
  name?: string;
  appEngineRoutingOverride?: AppEngineRouting | null;
  rateLimits?: { maxDispatchesPerSecond?: number; maxBurstSize?: number; maxConcurrentDispatches?: number } | null;
  retryConfig?: {
    maxAttempts?: number;
    maxRetryDuration?: ProtoSecondsNanos | null;
    minBackoff?: ProtoSecondsNanos | null;
    maxBackoff?: ProtoSecondsNanos | null;
    maxDoublings?: number;
  } | null;
  state?: string;
  purgeTime?: ProtoSecondsNanos | null;
  stackdriverLoggingConfig?: { samplingRatio?: number } | null;
}

// What `gcloud tasks queues describe` shows for a queue created without settings.
export const DEFAULT_RETRY: Readonly<RetrySettings> = {
  maxAttempts: 100,
  maxRetryDurationUs: 0,
  minBackoffUs: 0.1 * US_PER_SECOND,
  maxBackoffUs: 3600 * US_PER_SECOND,
  maxDoublings: 16,
};
export const DEFAULT_MAX_DISPATCHES_PER_SECOND = 500;
export const DEFAULT_MAX_CONCURRENT_DISPATCHES = 1000;
const MAX_CONCURRENT_DISPATCHES_LIMIT = 5000;
/** Tasks live at most 31 days, whatever the retry settings say. */
export const TASK_RETENTION_US = 31 * 24 * 3600 * US_PER_SECOND;

/**
 * Cloud Tasks picks the burst size itself; it shows 100 at the default 500/s.
 * Scaling it with the rate (capped at 100) is this emulator's approximation.
 */
function burstSizeFor(rate: number): number {
  return Math.max(1, Math.min(100, Math.ceil(rate)));
}

export function defaultQueueSettings(): QueueSettings {
  return {
    retry: { ...DEFAULT_RETRY },
    rate: {
      maxDispatchesPerSecond: DEFAULT_MAX_DISPATCHES_PER_SECOND,
      maxConcurrentDispatches: DEFAULT_MAX_CONCURRENT_DISPATCHES,
      maxBurstSize: burstSizeFor(DEFAULT_MAX_DISPATCHES_PER_SECOND),
    },
  };
}

/**
 * Delay before retry number `retryIndex` (0 = the first retry): min_backoff,
 * doubled max_doublings times, then growing linearly by that last step, capped at max_backoff.
 */
export function backoffUs(retry: RetrySettings, retryIndex: number): number {
  const d = retry.maxDoublings;
  const interval = retryIndex <= d ? retry.minBackoffUs * 2 ** retryIndex : retry.minBackoffUs * 2 ** d * (1 + retryIndex - d);
  return Math.min(interval, retry.maxBackoffUs);
}

/** A failed task stops only when both limits are used up (unlimited attempts never are), or at the retention age. */
export function retriesExhausted(retry: RetrySettings, task: { dispatchCount: number; firstAttemptUs: number; createTimeUs: number }, now: number): boolean {
  if (now - task.createTimeUs >= TASK_RETENTION_US) return true;
  const attemptsUsed = retry.maxAttempts !== -1 && task.dispatchCount >= retry.maxAttempts;
  const durationUsed = retry.maxRetryDurationUs <= 0 || now - task.firstAttemptUs >= retry.maxRetryDurationUs;
  return attemptsUsed && durationUsed;
}

function durationOrDefault(value: ProtoSecondsNanos | null | undefined, fallback: number, field: string): number {
  const us = protoToUs(value);
  if (us === undefined) return fallback;
  if (us < 0) throw invalidArgument(`retry_config.${field} must not be negative.`);
  return us;
}

/**
 * Turns a Queue message into settings. Unset fields get the defaults; so does a
 * zero max_doublings unless the caller named that field on its own (proto3
 * cannot tell "unset" from 0 for it, and a queue created without it must get 16).
 */
export function settingsFromProto(queue: ProtoQueue, options: { literalZeroDoublings?: boolean } = {}): QueueSettings {
  const settings = defaultQueueSettings();
  const retry = queue.retryConfig ?? {};
  const maxAttempts = retry.maxAttempts ?? 0;
  if (!Number.isInteger(maxAttempts) || maxAttempts < -1) throw invalidArgument("retry_config.max_attempts must be -1 (unlimited) or more.");
  if (maxAttempts !== 0) settings.retry.maxAttempts = maxAttempts;
  settings.retry.maxRetryDurationUs = durationOrDefault(retry.maxRetryDuration, DEFAULT_RETRY.maxRetryDurationUs, "max_retry_duration");
  settings.retry.minBackoffUs = durationOrDefault(retry.minBackoff, DEFAULT_RETRY.minBackoffUs, "min_backoff");
  settings.retry.maxBackoffUs = durationOrDefault(retry.maxBackoff, DEFAULT_RETRY.maxBackoffUs, "max_backoff");
  const doublings = retry.maxDoublings ?? 0;
  if (!Number.isInteger(doublings) || doublings < 0) throw invalidArgument("retry_config.max_doublings must not be negative.");
  if (doublings !== 0 || options.literalZeroDoublings) settings.retry.maxDoublings = doublings;
  if (settings.retry.minBackoffUs > settings.retry.maxBackoffUs) {
    throw invalidArgument("retry_config.min_backoff must be less than or equal to retry_config.max_backoff.");
  }

  const rate = queue.rateLimits ?? {};
  const perSecond = rate.maxDispatchesPerSecond ?? 0;
  if (!(perSecond >= 0 && perSecond <= DEFAULT_MAX_DISPATCHES_PER_SECOND)) {
    throw invalidArgument("rate_limits.max_dispatches_per_second must be between 0 and 500.");
  }
  if (perSecond > 0) settings.rate.maxDispatchesPerSecond = perSecond;
  settings.rate.maxBurstSize = burstSizeFor(settings.rate.maxDispatchesPerSecond);
  const concurrent = rate.maxConcurrentDispatches ?? 0;
  if (!Number.isInteger(concurrent) || concurrent < 0 || concurrent > MAX_CONCURRENT_DISPATCHES_LIMIT) {
    throw invalidArgument(`rate_limits.max_concurrent_dispatches must be between 0 and ${MAX_CONCURRENT_DISPATCHES_LIMIT}.`);
  }
  if (concurrent > 0) settings.rate.maxConcurrentDispatches = concurrent;

  const routing = queue.appEngineRoutingOverride;
  if (routing && (routing.service || routing.version || routing.instance)) {
    settings.appEngineRoutingOverride = { service: routing.service || undefined, version: routing.version || undefined, instance: routing.instance || undefined };
  }
  const ratio = queue.stackdriverLoggingConfig?.samplingRatio;
  if (ratio !== undefined && ratio !== null) {
    if (!(ratio >= 0 && ratio <= 1)) throw invalidArgument("stackdriver_logging_config.sampling_ratio must be between 0.0 and 1.0.");
    settings.loggingSamplingRatio = ratio;
  }
  return settings;
}

export function settingsToProto(settings: QueueSettings): Required<Pick<ProtoQueue, "rateLimits" | "retryConfig">> & ProtoQueue {
  const { retry, rate } = settings;
  return {
    rateLimits: { ...rate },
    retryConfig: {
      maxAttempts: retry.maxAttempts,
      maxRetryDuration: usToProto(retry.maxRetryDurationUs),
      minBackoff: usToProto(retry.minBackoffUs),
      maxBackoff: usToProto(retry.maxBackoffUs),
      maxDoublings: retry.maxDoublings,
    },
    ...(settings.appEngineRoutingOverride ? { appEngineRoutingOverride: { ...settings.appEngineRoutingOverride } } : {}),
    ...(settings.loggingSamplingRatio !== undefined ? { stackdriverLoggingConfig: { samplingRatio: settings.loggingSamplingRatio } } : {}),
  };
}

const MUTABLE_PATHS = new Set([
  "appEngineRoutingOverride",
  "appEngineRoutingOverride.service",
  "appEngineRoutingOverride.version",
  "appEngineRoutingOverride.instance",
  "rateLimits",
  "rateLimits.maxDispatchesPerSecond",
  "rateLimits.maxConcurrentDispatches",
  "retryConfig",
  "retryConfig.maxAttempts",
  "retryConfig.maxRetryDuration",
  "retryConfig.minBackoff",
  "retryConfig.maxBackoff",
  "retryConfig.maxDoublings",
  "stackdriverLoggingConfig",
  "stackdriverLoggingConfig.samplingRatio",
]);
// Output-only or immutable fields: the API ignores values given for them.
const IGNORED_PATHS = new Set(["name", "state", "purgeTime", "rateLimits.maxBurstSize"]);

/** Field mask paths arrive in snake_case from gRPC clients and in camelCase from REST habits; both are accepted. */
function camelPath(path: string): string {
  return path
    .split(".")
    .map((part) => part.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()))
    .join(".");
}

/**
 * UpdateQueue: with no mask every mutable field is replaced (unset ones get
 * the defaults); with a mask only the named fields change.
 */
export function applyQueueUpdate(current: QueueSettings, update: ProtoQueue, maskPaths: readonly string[] | undefined): QueueSettings {
  if (!maskPaths || maskPaths.length === 0) return settingsFromProto(update);
  const spec = settingsToProto(current) as unknown as Record<string, unknown>;
  let literalZeroDoublings = true;
  for (const raw of maskPaths) {
    const path = camelPath(raw);
    if (IGNORED_PATHS.has(path)) continue;
    if (!MUTABLE_PATHS.has(path)) throw invalidArgument(`Unknown or immutable field in update_mask: "${raw}".`);
    const [top, leaf] = path.split(".") as [string, string | undefined];
    const source = (update as Record<string, unknown>)[top] as Record<string, unknown> | null | undefined;
    if (leaf === undefined) {
      if (top === "retryConfig") literalZeroDoublings = false;
      if (source) spec[top] = structuredClone(source);
      else delete spec[top];
      continue;
    }
    const target = { ...((spec[top] as Record<string, unknown> | undefined) ?? {}) };
    if (source && source[leaf] !== undefined && source[leaf] !== null) target[leaf] = source[leaf];
    else delete target[leaf];
    spec[top] = target;
  }
  return settingsFromProto(spec as ProtoQueue, { literalZeroDoublings });
}
