import { EnqueueError, TaskResultDoesNotExistError } from "../errors.ts";
import { events } from "../events.ts";
import type { Logger } from "../log.ts";
import type { Storage, NewTask } from "../storage/storage.ts";
import { newTaskId } from "../storage/task-id.ts";
import { TaskResult, type TaskResultData } from "../task/result.ts";
import type { AnyTask, EnqueueRequest } from "../task/task.ts";
import { signalEnqueued } from "../worker/wake.ts";
import type { Backend, BackendContext } from "./backend.ts";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/** The product: tasks stored as rows, run by workers that claim them. */
export class DatabaseBackend implements Backend {
  readonly name: string;
  readonly queues: readonly string[];
  readonly supportsDefer = true;
  protected readonly context: BackendContext;
  protected readonly logger: Logger;

  constructor(context: BackendContext) {
    this.context = context;
    this.name = context.name;
    this.queues = context.queues;
    this.logger = context.logger;
  }

  /** Backends with deliveries of their own (Cloud Tasks) say how long a delivery holds a task; see Backend.deliveryLeaseMs. */
  get deliveryLeaseMs(): number | undefined {
    return undefined;
  }

  get storage(): Storage {
    return this.context.runtime.storage();
  }

  async enqueue(task: AnyTask, request: EnqueueRequest): Promise<TaskResult[]> {
    const enqueuedAt = new Date();
    const rows: NewTask[] = request.argsList.map((args) => ({
      id: newTaskId(enqueuedAt.getTime()),
      taskName: request.taskName,
      queueName: request.queueName,
      backendName: this.name,
      priority: request.priority,
      args,
      runAfter: request.runAfter,
      enqueuedAt,
      maxAttempts: request.maxAttempts,
    }));
    try {
      await this.storage.taskInsertMany(rows, request.transaction);
    } catch (error) {
      throw new EnqueueError(request.taskName, rows.map((row) => row.id), error);
    }
    const results = rows.map((row) => new TaskResult(this.toData(row), this));
    const committed = request.transaction ? request.transaction.executionPromise : Promise.resolve();
    committed.then(
      () => {
        signalEnqueued(this.name);
        this.afterCommit(results, request.transaction !== null);
      },
      () => undefined, // rolled back: the tasks never existed
    );
    for (const result of results) events.safeEmit("taskEnqueued", result);
    return results;
  }

  /** Runs once the inserted rows are committed (the Cloud Tasks backend dispatches here when enqueued in a transaction). */
  protected afterCommit(_results: TaskResult[], _inTransaction: boolean): void {}

  async close(): Promise<void> {}

  async getResultData(id: string): Promise<TaskResultData> {
    const data = isUuid(id) ? await this.storage.taskGet(id) : undefined;
    if (!data) throw new TaskResultDoesNotExistError(id);
    return data;
  }

  async getResult(id: string): Promise<TaskResult> {
    return new TaskResult(await this.getResultData(id), this);
  }

  private toData(row: NewTask): TaskResultData {
    return {
      id: row.id,
      taskName: row.taskName,
      status: "READY",
      args: row.args,
      queueName: row.queueName,
      priority: row.priority,
      backend: row.backendName,
      runAfter: row.runAfter,
      enqueuedAt: row.enqueuedAt,
      startedAt: null,
      lastAttemptedAt: null,
      finishedAt: null,
      attempts: 0,
      maxAttempts: row.maxAttempts,
      workerIds: [],
      returnValue: null,
      errors: [],
    };
  }
}
