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
}

/** What a backend's request check decided (the Cloud Tasks backend verifies OIDC tokens this way). */
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
