import type { Logger } from "../log.ts";
import type { Runtime } from "../runtime.ts";
import type { AnyTask, EnqueueRequest } from "../task/task.ts";
import type { ResultSource, TaskResult } from "../task/result.ts";

/** What a backend factory receives: its configured name, queues and options, and the runtime. */
export interface BackendContext {
  name: string;
  queues: string[];
  options: Record<string, unknown>;
  runtime: Runtime;
  logger: Logger;
}

/** Where `enqueue` sends tasks. Every backend can also read a task back by id. */
export interface Backend extends ResultSource {
  readonly name: string;
  /** Queue names accepted; empty accepts any. */
  readonly queues: readonly string[];
  /** Whether `runAfter` is honoured. */
  readonly supportsDefer: boolean;
  enqueue(task: AnyTask, request: EnqueueRequest): Promise<TaskResult[]>;
  getResult(id: string): Promise<TaskResult>;
  close?(): Promise<void>;
  /**
   * How long a task run by a delivery to the execute endpoint holds its lease past
   * the last renewal. Absent: DEFAULT_DELIVERY_LEASE_MS.
   */
  readonly deliveryLeaseMs?: number;
}

/** The lease of a task run by a delivery to the execute endpoint, unless its backend sets one. */
export const DEFAULT_DELIVERY_LEASE_MS = 30_000;

/**
 * What a backend's request check decided (the Cloud Tasks backend verifies OIDC
 * tokens this way). A refusal's `error` is the reason for the server's log; the
 * endpoints answer only 401 `{"error": "Missing or invalid Authorization header"}`
 * or 403 `{"error": "Forbidden"}`, so it may name the configuration to fix, never the token.
 */
export type RequestAuthOutcome =
  | { ok: true; claims?: Record<string, unknown> }
  | { ok: false; status: 401 | 403; error: string };

/**
 * A backend that guards the execute and purge endpoints (django-database-task's
 * get_auth_handler). The HTTP layer asks every configured backend that has one.
 */
export interface RequestAuthenticator {
  /** null: this backend checks nothing here, so the HTTP layer's own options (token, authorize) decide. */
  authenticateRequest(request: import("node:http").IncomingMessage): Promise<RequestAuthOutcome | null>;
}

/**
 * A backend that delivers tasks itself (Cloud Tasks): retrying FAILED tasks
 * means putting them back to READY and handing them to that delivery again,
 * instead of running them in the calling process.
 */
export interface TaskRedispatcher {
  /** Requeues these FAILED tasks and dispatches them; resolves to the ids it requeued. */
  retryFailed(ids: string[]): Promise<string[]>;
}

/** What one maintenance pass did for one backend that delivers its tasks itself (Cloud Tasks). */
export interface DeliveryMaintenance {
  /** Tasks never handed to their delivery (or due within its reach only now) that were handed over. */
  dispatched: number;
  /** Tasks waiting long after their hand-over whose delivery still holds them: left to it. */
  confirmed: number;
  /** Tasks whose delivery had dropped them (Cloud Tasks gave up, or the Cloud Task was deleted): handed over anew. */
  recreated: number;
  /** Tasks whose delivery had dropped them, marked FAILED instead (`lostCloudTask: "fail"`). */
  failed: number;
  /** Tasks a call to the delivery failed for; the next pass tries them again. */
  errors: number;
  /** False when the limit or the time budget cut the pass short: more may be waiting. */
  complete: boolean;
}

/**
 * A backend whose tasks reach a runner through a delivery of its own (Cloud
 * Tasks), which the maintenance pass keeps whole: every READY task ends up
 * with a delivery coming.
 */
export interface MaintainedBackend {
  /** How often an always-on process runs the pass for this backend. */
  readonly maintenanceIntervalMs: number;
  /** One bounded pass: at most `limit` tasks per step, stopping at `deadline` (epoch ms). */
  maintain(budget: { limit: number; deadline: number }): Promise<DeliveryMaintenance>;
}

export function isMaintainedBackend(backend: unknown): backend is MaintainedBackend {
  return typeof (backend as Partial<MaintainedBackend> | null)?.maintain === "function";
}
