import type { IncomingMessage } from "node:http";
import type { CloudTasksClient, protos } from "@google-cloud/tasks";
import type { BackendContext, RequestAuthenticator, RequestAuthOutcome, TaskRedispatcher } from "../backends/backend.ts";
import { DatabaseBackend } from "../backends/database.ts";
import { DatabaseTaskError, errorMessage } from "../errors.ts";
import { requireGcpLocation, requireGcpProject, requireTaskHandlerHost } from "../detect/index.ts";
import type { TaskResult, TaskResultData } from "../task/result.ts";
import type { AnyTask, EnqueueRequest } from "../task/task.ts";
import { createCloudTasksClient } from "./client.ts";
import { verifyCloudTasksToken } from "./oidc.ts";
import { parseCloudTasksOptions, type CloudTasksOptions } from "./options.ts";

export const DEFAULT_HANDLER_PATH = "/tasks/execute/{task_id}/";

/** gRPC status codes the Cloud Tasks API answers with. */
const ALREADY_EXISTS = 6;
const TRANSIENT_CODES = new Set([4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);
const CREATE_TRIES = 4;
const PARALLEL_CREATES = 32;

/** Some tasks are stored (READY) but Cloud Tasks did not take them; `database-task dispatch` retries them. */
export class CloudTasksDispatchError extends DatabaseTaskError {
  readonly taskIds: string[];
  constructor(backendName: string, failures: Array<{ id: string; error: unknown }>) {
    const first = failures[0];
    super(
      "CLOUD_TASKS_DISPATCH",
      `Could not create the Cloud Task for ${failures.length === 1 ? `task ${first.id}` : `${failures.length} tasks (first: ${first.id})`} ` +
        `on backend "${backendName}": ${errorMessage(first.error)}. The task is stored as READY and marked not dispatched; ` +
        `\`database-task dispatch\` (or the handler's periodic sweep) hands it to Cloud Tasks again.`,
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

/**
 * The database backend, plus a Google Cloud Task per enqueued task. The row is
 * the source of truth; the Cloud Task carries only the task id, as a POST to
 * the execute endpoint, and its retries are Cloud Tasks' retries.
 */
export class CloudTasksDatabaseBackend extends DatabaseBackend implements RequestAuthenticator, TaskRedispatcher {
  readonly options: CloudTasksOptions;
  #client: CloudTasksClient | null = null;
  #target: Promise<Target> | null = null;

  constructor(context: BackendContext) {
    super(context);
    this.options = parseCloudTasksOptions(context.name, context.options);
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
    // Retries are Cloud Tasks' (the queue's retry config): each failed delivery leaves the task FAILED,
    // and the next delivery runs it again. A task-level maxAttempts would leave it READY with no delivery coming.
    const results = await super.enqueue(task, { ...request, maxAttempts: 1 });
    // Inside a transaction the Cloud Tasks are created once it commits (afterCommit): a delivery
    // must never find no row, and a rolled-back task must never be delivered.
    if (!request.transaction) await this.dispatch(results);
    return results;
  }

  protected override afterCommit(results: TaskResult[], inTransaction: boolean): void {
    if (!inTransaction) return;
    this.dispatch(results).catch((error: unknown) =>
      this.logger.error("Cloud Task creation after commit failed; the periodic sweep will retry", { error: errorMessage(error) }),
    );
  }

  /** Creates one Cloud Task per task and marks the rows dispatched; throws CloudTasksDispatchError for those that failed. */
  async dispatch(tasks: Array<Pick<TaskResultData, "id" | "queueName" | "runAfter" | "attempts">>): Promise<void> {
    if (tasks.length === 0) return;
    const target = await this.target();
    const failures: Array<{ id: string; error: unknown }> = [];
    const done: string[] = [];
    for (let i = 0; i < tasks.length; i += PARALLEL_CREATES) {
      await Promise.all(
        tasks.slice(i, i + PARALLEL_CREATES).map(async (t) => {
          try {
            await this.#createWithRetry(target, t);
            done.push(t.id);
          } catch (error) {
            failures.push({ id: t.id, error });
          }
        }),
      );
    }
    await this.storage.taskMarkDispatched(done, new Date());
    if (failures.length > 0) throw new CloudTasksDispatchError(this.name, failures);
  }

  /** The Cloud Task for one of our tasks. Its name is derived from our id and attempt count, so re-creating it is idempotent. */
  cloudTaskFor(target: Target, t: Pick<TaskResultData, "id" | "queueName" | "runAfter" | "attempts">): protos.google.cloud.tasks.v2.ITask {
    const client = this.client();
    const url = new URL(target.handlerUrl.replace("{task_id}", encodeURIComponent(t.id)));
    // 500 on failure makes Cloud Tasks retry; allow_retry lets that redelivery run a FAILED task again.
    url.searchParams.set("fail_on_error", "true");
    url.searchParams.set("allow_retry", "true");
    const task: protos.google.cloud.tasks.v2.ITask = {
      name: client.taskPath(target.project, target.location, t.queueName, `${t.id}-${t.attempts}`),
      httpRequest: {
        httpMethod: "POST",
        url: url.toString(),
        ...(this.options.serviceAccountEmail && {
          oidcToken: { serviceAccountEmail: this.options.serviceAccountEmail, audience: target.audience },
        }),
      },
    };
    if (t.runAfter && t.runAfter.getTime() > Date.now()) {
      task.scheduleTime = { seconds: Math.floor(t.runAfter.getTime() / 1000), nanos: (t.runAfter.getTime() % 1000) * 1e6 };
    }
    if (this.options.dispatchDeadlineSeconds) task.dispatchDeadline = { seconds: this.options.dispatchDeadlineSeconds };
    return task;
  }

  async #createWithRetry(target: Target, t: Pick<TaskResultData, "id" | "queueName" | "runAfter" | "attempts">): Promise<void> {
    const client = this.client();
    const parent = client.queuePath(target.project, target.location, t.queueName);
    const task = this.cloudTaskFor(target, t);
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
    const pending = await this.storage.taskListUndispatched({
      backendName: this.name,
      enqueuedBefore: new Date(Date.now() - olderThanMs),
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
   * Re-dispatches undispatched rows every so often, so a task whose Cloud Task
   * could not be created (Cloud Tasks down, process killed between the two
   * writes) is still delivered. Resolves nothing; returns a stop function.
   */
  startDispatchSweep(): () => void {
    const afterMs = (this.options.redispatchAfterSeconds ?? 60) * 1000;
    const timer = setInterval(() => {
      this.dispatchPending({ olderThanMs: afterMs }).then(
        ({ dispatched, failed }) => {
          if (dispatched || failed) this.logger.info("Re-dispatched tasks to Cloud Tasks", { backend: this.name, dispatched, failed });
        },
        (error: unknown) => this.logger.warn("Dispatch sweep failed; will try again", { backend: this.name, error: errorMessage(error) }),
      );
    }, Math.max(1000, afterMs / 2));
    timer.unref();
    return () => clearInterval(timer);
  }

  async retryFailed(ids: string[]): Promise<string[]> {
    const requeued = await this.storage.taskRequeueFailed(ids, new Date());
    const rows = (await Promise.all(requeued.map((id) => this.storage.taskGet(id)))).filter((r): r is TaskResultData => !!r);
    await this.dispatch(rows);
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
