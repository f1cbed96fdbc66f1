import { randomUUID } from "node:crypto";
import { TaskResultDoesNotExistError } from "../errors.ts";
import { events } from "../events.ts";
import { TaskResult, type TaskResultData } from "../task/result.ts";
import type { AnyTask, EnqueueRequest } from "../task/task.ts";
import { invokeTask } from "../worker/execute.ts";
import type { Backend, BackendContext } from "./backend.ts";

function newData(backend: string, request: EnqueueRequest, args: TaskResultData["args"]): TaskResultData {
  return {
    id: randomUUID(),
    taskName: request.taskName,
    status: "READY",
    args,
    queueName: request.queueName,
    priority: request.priority,
    backend,
    runAfter: request.runAfter,
    enqueuedAt: new Date(),
    startedAt: null,
    lastAttemptedAt: null,
    finishedAt: null,
    attempts: 0,
    maxAttempts: request.maxAttempts,
    workerIds: [],
    returnValue: null,
    errors: [],
  };
}

/** Shared by the in-memory backends: results kept in a Map, read back by id. */
abstract class MemoryBackend implements Backend {
  readonly name: string;
  readonly queues: readonly string[];
  abstract readonly supportsDefer: boolean;
  protected readonly store = new Map<string, TaskResultData>();

  constructor(context: BackendContext) {
    this.name = context.name;
    this.queues = context.queues;
  }

  async getResultData(id: string): Promise<TaskResultData> {
    const data = this.store.get(id);
    if (!data) throw new TaskResultDoesNotExistError(id);
    return structuredClone(data);
  }

  async getResult(id: string): Promise<TaskResult> {
    return new TaskResult(await this.getResultData(id), this);
  }

  abstract enqueue(task: AnyTask, request: EnqueueRequest): Promise<TaskResult[]>;
}

/**
 * Runs each task inline, inside enqueue, and resolves with its final state:
 * for tests and scripts. Retries (maxAttempts) happen at once, without backoff.
 */
export class ImmediateBackend extends MemoryBackend {
  readonly supportsDefer = false;

  async enqueue(task: AnyTask, request: EnqueueRequest): Promise<TaskResult[]> {
    const results: TaskResult[] = [];
    for (const args of request.argsList) {
      const data = newData(this.name, request, args);
      this.store.set(data.id, data);
      events.safeEmit("taskEnqueued", new TaskResult(structuredClone(data), this));
      const workerId = `immediate-${randomUUID().slice(0, 8)}`;
      while (data.status === "READY") {
        const now = new Date();
        Object.assign(data, {
          status: "RUNNING",
          startedAt: data.startedAt ?? now,
          lastAttemptedAt: now,
          attempts: data.attempts + 1,
          workerIds: [...data.workerIds, workerId],
        });
        const running = new TaskResult(structuredClone(data), this);
        events.safeEmit("taskStarted", running);
        const outcome = await invokeTask(running, () => running, task);
        if (outcome.ok) {
          Object.assign(data, { status: "SUCCESSFUL", returnValue: outcome.value, finishedAt: new Date() });
        } else {
          data.errors = [...data.errors, outcome.error];
          Object.assign(data, data.attempts < data.maxAttempts ? { status: "READY" } : { status: "FAILED", finishedAt: new Date() });
        }
      }
      const finished = new TaskResult(structuredClone(data), this);
      events.safeEmit("taskFinished", finished);
      results.push(finished);
    }
    return results;
  }
}

/** Records enqueued tasks without running them: for tests that check what was enqueued. */
export class DummyBackend extends MemoryBackend {
  readonly supportsDefer = true;

  async enqueue(_task: AnyTask, request: EnqueueRequest): Promise<TaskResult[]> {
    return request.argsList.map((args) => {
      const data = newData(this.name, request, args);
      this.store.set(data.id, data);
      const result = new TaskResult(structuredClone(data), this);
      events.safeEmit("taskEnqueued", result);
      return result;
    });
  }

  /** Every task enqueued so far, oldest first. */
  get results(): TaskResult[] {
    return [...this.store.values()].map((data) => new TaskResult(structuredClone(data), this));
  }

  /** Forgets every recorded task. */
  clear(): void {
    this.store.clear();
  }
}
