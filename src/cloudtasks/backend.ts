import type { IncomingMessage } from "node:http";
import type { CloudTasksClient, protos } from "@google-cloud/tasks";
import type {
  BackendContext,
  DeliveryMaintenance,
  MaintainedBackend,
  RequestAuthenticator,
  RequestAuthOutcome,
  TaskRedispatcher,
} from "../backends/backend.ts";
import { DatabaseBackend } from "../backends/database.ts";
import { DatabaseTaskError, errorMessage, InvalidTaskError } from "../errors.ts";
import { requireGcpLocation, requireGcpProject, requireTaskHandlerHost } from "../detect/index.ts";
import type { DispatchItem } from "../storage/storage.ts";
import type { TaskError, TaskResult } from "../task/result.ts";
import type { AnyTask, EnqueueRequest } from "../task/task.ts";
import { createCloudTasksClient } from "./client.ts";
import { verifyCloudTasksToken } from "./oidc.ts";
import {
  DEFAULT_DELIVERY_LEASE_SECONDS,
  DEFAULT_REDISPATCH_AFTER_SECONDS,
  DEFAULT_VERIFY_AFTER_SECONDS,
  parseCloudTasksOptions,
  type CloudTasksOptions,
} from "./options.ts";
import { cloudTaskId, QUEUE_ID, SCHEDULE_HORIZON_MS } from "./task-name.ts";

export const DEFAULT_HANDLER_PATH = "/tasks/execute/{task_id}/";

/** gRPC status codes the Cloud Tasks API answers with. */
const ALREADY_EXISTS = 6;
const TRANSIENT_CODES = new Set([4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);
const CREATE_TRIES = 4;
const PARALLEL_CREATES = 32;

/** Some tasks are stored (READY) but Cloud Tasks did not take them; the maintenance pass (or `database-task dispatch`) retries them. */
export class CloudTasksDispatchError extends DatabaseTaskError {
  readonly taskIds: string[];
  constructor(backendName: string, failures: Array<{ id: string; error: unknown }>) {
    const first = failures[0];
    super(
      "CLOUD_TASKS_DISPATCH",
      `Could not create the Cloud Task for ${failures.length === 1 ? `task ${first.id}` : `${failures.length} tasks (first: ${first.id})`} ` +
        `on backend "${backendName}": ${errorMessage(first.error)}. The task is stored as READY and marked not dispatched; ` +
        `\`database-task dispatch\` or the maintenance pass (\`database-task maintain\`, POST /tasks/maintain/, serve's timer) hands it to Cloud Tasks again.`,
      { cause: first.error },
    );
    this.taskIds = failures.map((f) => f.id);
  }
}

interface Target {
  project: string;
  location: string;
  /** Handler URL with `{task_id}`. */
  handlerUrl: string;
  audience: string;
}

export interface DispatchSummary {
  dispatched: number;
  failed: number;
}

/** gRPC NOT_FOUND: GetTask's answer for a task that ran out of attempts, succeeded, or was deleted. */
const NOT_FOUND = 5;
/** GetTask calls in flight at once during a maintenance pass. */
const PARALLEL_CHECKS = 16;

/**
 * The database backend, plus a Google Cloud Task per enqueued task. The row is
 * the source of truth; the Cloud Task carries only the task id, as a POST to
 * the execute endpoint, and its retries are Cloud Tasks' retries.
 */
export class CloudTasksDatabaseBackend extends DatabaseBackend implements RequestAuthenticator, TaskRedispatcher, MaintainedBackend {
  readonly options: CloudTasksOptions;
  #client: CloudTasksClient | null = null;
  #target: Promise<Target> | null = null;

  constructor(context: BackendContext) {
    super(context);
    this.options = parseCloudTasksOptions(context.name, context.options);
  }

  /** How long a delivery's hold on a task outlives its last renewal (renewed every third of it while the task runs). */
  override get deliveryLeaseMs(): number {
    return (this.options.leaseSeconds ?? DEFAULT_DELIVERY_LEASE_SECONDS) * 1000;
  }

  /** How often an always-on process runs the maintenance pass for this backend. */
  get maintenanceIntervalMs(): number {
    return Math.max(1000, ((this.options.redispatchAfterSeconds ?? DEFAULT_REDISPATCH_AFTER_SECONDS) * 1000) / 2);
  }

  /** Project, location, handler URL and audience, from the options or detected once. */
  target(): Promise<Target> {
    this.#target ??= this.#resolveTarget().catch((error: unknown) => {
      this.#target = null; // try detection again next time
      throw error;
    });
    return this.#target;
  }

  async #resolveTarget(): Promise<Target> {
    const o = this.options;
    const where = (field: string) => ({ optionName: `backends.${this.name}.options.${field}` });
    const [project, location] = await Promise.all([
      o.project ?? requireGcpProject(where("project")),
      o.location ?? requireGcpLocation(where("location")),
    ]);
    const handlerUrl =
      o.handlerUrl ??
      (await requireTaskHandlerHost({ ...where("handlerUrl"), appEngineHostname: o.appEngineHostname, appEngineRegionId: o.appEngineRegionId })) +
        (o.handlerPath ?? DEFAULT_HANDLER_PATH);
    const audience = o.audience ?? new URL(handlerUrl.replace("{task_id}", "x")).origin;
    return { project, location, handlerUrl, audience };
  }

  client(): CloudTasksClient {
    this.#client ??= createCloudTasksClient({ emulatorHost: this.options.emulatorHost });
    return this.#client;
  }

  override async enqueue(task: AnyTask, request: EnqueueRequest): Promise<TaskResult[]> {
    // Checked before anything is stored: Cloud Tasks would refuse the queue id only after the row exists.
    if (!QUEUE_ID.test(request.queueName)) {
      throw new InvalidTaskError(
        `Queue "${request.queueName}" cannot be a Cloud Tasks queue id (letters, digits and hyphens, at most 100 characters); ` +
          `backend "${this.name}" sends each task to the Cloud Tasks queue of that name. Use e.g. "${suggestQueueId(request.queueName)}".`,
      );
    }
    // Retries are Cloud Tasks' (the queue's retry config): each failed delivery leaves the task FAILED,
    // and the next delivery runs it again. A task-level maxAttempts would leave it READY with no delivery coming.
    const results = await super.enqueue(task, { ...request, maxAttempts: 1 });
    // Inside a transaction the Cloud Tasks are created once it commits (afterCommit): a delivery
    // must never find no row, and a rolled-back task must never be delivered.
    if (!request.transaction) await this.dispatch(results.map(freshDispatchItem));
    return results;
  }

  protected override afterCommit(results: TaskResult[], inTransaction: boolean): void {
    if (!inTransaction) return;
    this.dispatch(results.map(freshDispatchItem)).catch((error: unknown) =>
      this.logger.error("Cloud Task creation after commit failed; the maintenance pass will retry", { error: errorMessage(error) }),
    );
  }

  /**
   * Creates one Cloud Task per task and marks the rows dispatched; throws
   * CloudTasksDispatchError for those that failed. Tasks due beyond Cloud Tasks'
   * 30-day schedule limit are left undispatched: the maintenance pass creates
   * their Cloud Task once they are within reach.
   */
  async dispatch(items: DispatchItem[]): Promise<void> {
    const horizon = Date.now() + SCHEDULE_HORIZON_MS;
    const reachable = items.filter((item) => item.availableAt.getTime() < horizon);
    if (reachable.length === 0) return;
    const target = await this.target();
    const failures: Array<{ id: string; error: unknown }> = [];
    const done: DispatchItem[] = [];
    for (let i = 0; i < reachable.length; i += PARALLEL_CREATES) {
      await Promise.all(
        reachable.slice(i, i + PARALLEL_CREATES).map(async (item) => {
          try {
            await this.#createWithRetry(target, item);
            done.push(item);
          } catch (error) {
            failures.push({ id: item.id, error });
          }
        }),
      );
    }
    await this.storage.taskMarkDispatched(done, new Date());
    if (failures.length > 0) throw new CloudTasksDispatchError(this.name, failures);
  }

  /** The full Cloud Task name of one generation of one of our tasks. */
  cloudTaskName(target: Target, item: Pick<DispatchItem, "id" | "queueName" | "generation">): string {
    return this.client().taskPath(target.project, target.location, item.queueName, cloudTaskId(item.id, item.generation));
  }

  /** The Cloud Task for one of our tasks. Its name is derived from our id and dispatch generation, so re-creating it is idempotent. */
  cloudTaskFor(target: Target, item: DispatchItem): protos.google.cloud.tasks.v2.ITask {
    const url = new URL(target.handlerUrl.replace("{task_id}", encodeURIComponent(item.id)));
    // 500 on failure makes Cloud Tasks retry; allow_retry lets that redelivery run a FAILED task again.
    url.searchParams.set("fail_on_error", "true");
    url.searchParams.set("allow_retry", "true");
    const task: protos.google.cloud.tasks.v2.ITask = {
      name: this.cloudTaskName(target, item),
      httpRequest: {
        httpMethod: "POST",
        url: url.toString(),
        ...(this.options.serviceAccountEmail && {
          oidcToken: { serviceAccountEmail: this.options.serviceAccountEmail, audience: target.audience },
        }),
      },
    };
    const due = item.availableAt.getTime();
    if (due > Date.now()) task.scheduleTime = { seconds: Math.floor(due / 1000), nanos: (due % 1000) * 1e6 };
    if (this.options.dispatchDeadlineSeconds) task.dispatchDeadline = { seconds: this.options.dispatchDeadlineSeconds };
    return task;
  }

  async #createWithRetry(target: Target, item: DispatchItem): Promise<void> {
    const client = this.client();
    const parent = client.queuePath(target.project, target.location, item.queueName);
    const task = this.cloudTaskFor(target, item);
    for (let attempt = 1; ; attempt++) {
      try {
        await client.createTask({ parent, task });
        return;
      } catch (error) {
        const code = (error as { code?: number }).code;
        if (code === ALREADY_EXISTS) return; // an earlier try (or dispatch run) created it
        if (!TRANSIENT_CODES.has(code as number) || attempt >= CREATE_TRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 4 ** (attempt - 1)));
      }
    }
  }

  /** Re-dispatches READY tasks whose hand-over to Cloud Tasks never happened (enqueued at least `olderThanMs` ago). */
  async dispatchPending({ olderThanMs = 0, limit = 1000 }: { olderThanMs?: number; limit?: number } = {}): Promise<DispatchSummary> {
    const now = Date.now();
    const pending = await this.storage.taskListUndispatched({
      backendName: this.name,
      enqueuedBefore: new Date(now - olderThanMs),
      availableBefore: new Date(now + SCHEDULE_HORIZON_MS),
      limit,
    });
    try {
      await this.dispatch(pending);
      return { dispatched: pending.length, failed: 0 };
    } catch (error) {
      if (!(error instanceof CloudTasksDispatchError)) throw error;
      return { dispatched: pending.length - error.taskIds.length, failed: error.taskIds.length };
    }
  }

  /**
   * This backend's share of the maintenance pass; safe to run from many
   * processes at once. (1) READY tasks never handed over (Cloud Tasks was down,
   * the process died between the two writes, or they were due beyond 30 days
   * and now are not) get their Cloud Task. (2) READY tasks handed over more
   * than `verifyAfterSeconds` ago and due as long ago are looked up with
   * GetTask: if their Cloud Task still exists they are left to it; if it is gone
   * (Cloud Tasks ran out of attempts while the handler was down, or answered
   * 200 to a delivery that did not run it), a new generation is created under a
   * new name, or the task is marked FAILED with `lostCloudTask: "fail"`. One
   * process wins each task's new generation (a conditional UPDATE), and names
   * are deterministic, so concurrent passes create no duplicate Cloud Tasks.
   */
  async maintain({ limit, deadline }: { limit: number; deadline: number }): Promise<DeliveryMaintenance> {
    const summary: DeliveryMaintenance = { dispatched: 0, confirmed: 0, recreated: 0, failed: 0, errors: 0, complete: true };
    const redispatchAfterMs = (this.options.redispatchAfterSeconds ?? DEFAULT_REDISPATCH_AFTER_SECONDS) * 1000;
    const undispatched = await this.dispatchPending({ olderThanMs: redispatchAfterMs, limit });
    summary.dispatched = undispatched.dispatched;
    summary.errors += undispatched.failed;
    if (undispatched.dispatched + undispatched.failed >= limit) summary.complete = false;
    if (Date.now() >= deadline) return { ...summary, complete: false };

    const verifyAfterMs = (this.options.verifyAfterSeconds ?? DEFAULT_VERIFY_AFTER_SECONDS) * 1000;
    const now = Date.now();
    const stale = await this.storage.taskListStaleDispatches({
      backendName: this.name,
      dispatchedBefore: new Date(now - verifyAfterMs),
      availableBefore: new Date(now - verifyAfterMs),
      limit,
    });
    if (stale.length >= limit) summary.complete = false;
    if (stale.length === 0) return summary;
    const target = await this.target();
    for (let i = 0; i < stale.length; i += PARALLEL_CHECKS) {
      if (Date.now() >= deadline) return { ...summary, complete: false };
      const verdicts = await Promise.all(stale.slice(i, i + PARALLEL_CHECKS).map((item) => this.#verifyDispatch(target, item)));
      for (const verdict of verdicts) if (verdict) summary[verdict]++;
    }
    return summary;
  }

  /** Looks up one stale task's Cloud Task and acts on what it finds; null when another process got there first. */
  async #verifyDispatch(target: Target, item: DispatchItem): Promise<"confirmed" | "recreated" | "failed" | "errors" | null> {
    const name = this.cloudTaskName(target, item);
    try {
      await this.client().getTask({ name });
      await this.storage.taskMarkDispatched([item], new Date()); // checked again only after another verifyAfterSeconds
      return "confirmed";
    } catch (error) {
      if ((error as { code?: number }).code !== NOT_FOUND) {
        this.logger.warn("Could not look up a task's Cloud Task; the next maintenance pass tries again", {
          backend: this.name,
          taskId: item.id,
          error: errorMessage(error),
        });
        return "errors";
      }
    }
    try {
      if (this.options.lostCloudTask === "fail") return (await this.#failUndelivered(item, name)) ? "failed" : null;
      if (!(await this.storage.taskNextDispatchGeneration(item))) return null;
      const next = { ...item, generation: item.generation + 1 };
      this.logger.warn("Task's Cloud Task is gone (attempts used up or deleted) while the task is READY; creating it again", {
        backend: this.name,
        taskId: item.id,
        cloudTask: name,
      });
      await this.dispatch([next]);
      return "recreated";
    } catch (error) {
      // The new generation is stored undispatched: the next pass creates its Cloud Task.
      this.logger.warn("Could not re-create a task's Cloud Task; the next maintenance pass tries again", {
        backend: this.name,
        taskId: item.id,
        error: errorMessage(error),
      });
      return "errors";
    }
  }

  async #failUndelivered(item: DispatchItem, name: string): Promise<boolean> {
    const task = await this.storage.taskGet(item.id);
    if (!task) return false;
    const error: TaskError = {
      errorClass: "CloudTaskLost",
      message:
        `Cloud Task ${name} no longer exists (the queue ran out of attempts or retry time, or it was deleted) ` +
        `and the task never ran to an end; marked FAILED because backends.${this.name}.options.lostCloudTask is "fail". ` +
        `Retry it from the admin or with retryFailed().`,
      stack: "",
    };
    const failed = await this.storage.taskFailUndelivered({ id: item.id, generation: item.generation, errors: [...task.errors, error], finishedAt: new Date() });
    if (failed) this.logger.warn("Task's Cloud Task is gone; marked FAILED (lostCloudTask: fail)", { backend: this.name, taskId: item.id });
    return failed;
  }

  async retryFailed(ids: string[]): Promise<string[]> {
    const requeued = await this.storage.taskRequeueFailed(ids, new Date());
    if (requeued.length === 0) return [];
    const now = Date.now();
    const items = await this.storage.taskListUndispatched({
      backendName: this.name,
      enqueuedBefore: new Date(now + 1000),
      availableBefore: new Date(now + SCHEDULE_HORIZON_MS),
      limit: requeued.length,
      ids: requeued,
    });
    await this.dispatch(items);
    return requeued;
  }

  async authenticateRequest(request: IncomingMessage): Promise<RequestAuthOutcome | null> {
    const email = this.options.serviceAccountEmail;
    if (!email) {
      // Verifying nothing must not open the endpoints: abstain, so the router's own token/authorize still apply.
      if (this.options.allowUnauthenticatedDelivery) return null;
      return {
        ok: false,
        status: 401,
        error:
          `Backend "${this.name}" has no serviceAccountEmail, so it cannot verify Cloud Tasks' OIDC token. ` +
          `Set serviceAccountEmail (or allowUnauthenticatedDelivery: true if something else authenticates requests).`,
      };
    }
    let audience: string;
    try {
      audience = (await this.target()).audience;
    } catch (error) {
      return { ok: false, status: 401, error: `OIDC audience unknown: ${errorMessage(error)}` };
    }
    return verifyCloudTasksToken(request.headers.authorization, {
      audience,
      serviceAccountEmail: email,
      certsUrl: this.options.oidcCertsUrl,
      issuers: this.options.oidcIssuers,
    });
  }

  override async close(): Promise<void> {
    await this.#client?.close();
    this.#client = null;
  }
}

/** A task just enqueued, as `dispatch` takes it: generation 0, due at its runAfter or now. */
function freshDispatchItem(result: TaskResult): DispatchItem {
  return { id: result.id, queueName: result.queueName, availableAt: result.runAfter ?? result.enqueuedAt, generation: 0 };
}

/** A queue id close to a name Cloud Tasks refuses, for the error message. */
function suggestQueueId(name: string): string {
  return name.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 100) || "default";
}
