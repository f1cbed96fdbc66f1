import type { QueueName } from "./names.ts";
import type { AppEngineRouting, QueueSettings } from "./queue-config.ts";

export type HttpMethod = "POST" | "GET" | "HEAD" | "PUT" | "DELETE" | "PATCH" | "OPTIONS";
export type QueueState = "RUNNING" | "PAUSED" | "DISABLED";

export interface HttpTarget {
  kind: "http";
  url: string;
  method: HttpMethod;
  /** Names keep the caller's case, as the real service stores them. */
  headers: Record<string, string>;
  body?: Buffer;
  oidcToken?: { serviceAccountEmail: string; audience?: string };
  oauthToken?: { serviceAccountEmail: string; scope?: string };
}

export interface AppEngineTarget {
  kind: "appEngine";
  method: HttpMethod;
  relativeUri: string;
  headers: Record<string, string>;
  body?: Buffer;
  routing?: AppEngineRouting;
}

/** google.rpc.Status of an attempt. */
export interface RpcStatus {
  code: number;
  message: string;
}

export interface AttemptTimes {
  scheduleTimeUs: number;
  dispatchTimeUs: number;
  responseTimeUs?: number;
  responseStatus?: RpcStatus;
}

export interface TaskRecord {
  name: string;
  taskId: string;
  queueName: string;
  target: HttpTarget | AppEngineTarget;
  scheduleTimeUs: number;
  createTimeUs: number;
  /** Unset: the target type's default applies. */
  dispatchDeadlineUs?: number;
  dispatchCount: number;
  responseCount: number;
  /** Responses other than 5xx: what X-CloudTasks-TaskExecutionCount reports. */
  executionCount: number;
  firstAttemptUs?: number;
  lastAttempt?: AttemptTimes;
  previousHttpStatus?: number;
  retryReason?: string;
  /** Attempts whose answer is awaited; RunTask may add one while another runs. */
  inFlight: number;
  /** Set once the task is gone, so late answers of its attempts change nothing. */
  removed: boolean;
}

export interface QueueRecord {
  name: QueueName;
  settings: QueueSettings;
  state: QueueState;
  purgeTimeUs?: number;
  tasks: Map<string, TaskRecord>;
  inFlight: number;
  /** Token bucket for max_dispatches_per_second. */
  tokens: number;
  tokensAtUs: number;
  iamPolicy?: unknown;
  removed: boolean;
}

export type TaskOutcomeKind = "succeeded" | "failed" | "deleted" | "purged" | "queue-deleted";

/** How a task left the emulator; kept for inspection after the task itself is gone. */
export interface TaskOutcome {
  taskName: string;
  queueName: string;
  outcome: TaskOutcomeKind;
  finishedAt: Date;
  dispatchCount: number;
  responseCount: number;
  /** HTTP status of the last answer, if any. */
  lastHttpStatus?: number;
}

/** One dispatch as the target saw it, kept for inspection. */
export interface AttemptRecord {
  taskName: string;
  queueName: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** True for a RunTask dispatch. */
  forced: boolean;
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  scheduledAt: Date;
  dispatchedAt: Date;
  respondedAt?: Date;
  httpStatus?: number;
  /** "DEADLINE_EXCEEDED" or the network error, when no answer came. */
  error?: string;
}
