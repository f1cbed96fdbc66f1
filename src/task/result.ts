import type { JsonValue } from "./json.ts";

export const TaskStatus = {
  READY: "READY",
  RUNNING: "RUNNING",
  SUCCESSFUL: "SUCCESSFUL",
  FAILED: "FAILED",
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];
export const TASK_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);

/** One failed attempt, as recorded on the task. */
export interface TaskError {
  /** The error's class name (`TypeError`, `WorkerLost`, ...). */
  errorClass: string;
  message: string;
  /** The stack trace, as text. */
  stack: string;
}

/** The fields of a stored (or, for the dummy and immediate backends, remembered) task. */
export interface TaskResultData {
  id: string;
  taskName: string;
  status: TaskStatus;
  args: JsonValue[];
  queueName: string;
  priority: number;
  backend: string;
  runAfter: Date | null;
  enqueuedAt: Date;
  startedAt: Date | null;
  lastAttemptedAt: Date | null;
  finishedAt: Date | null;
  attempts: number;
  maxAttempts: number;
  workerIds: string[];
  returnValue: JsonValue | null;
  errors: TaskError[];
}

/** Anything that can look a task up again by id (every backend can). */
export interface ResultSource {
  getResultData(id: string): Promise<TaskResultData>;
}

/**
 * The state of one enqueued task. It is a snapshot: call `refresh()` to read
 * the current state from its backend.
 */
export class TaskResult<R = JsonValue> implements Omit<TaskResultData, "returnValue"> {
  id!: string;
  taskName!: string;
  status!: TaskStatus;
  args!: JsonValue[];
  queueName!: string;
  priority!: number;
  backend!: string;
  runAfter!: Date | null;
  enqueuedAt!: Date;
  startedAt!: Date | null;
  lastAttemptedAt!: Date | null;
  finishedAt!: Date | null;
  attempts!: number;
  maxAttempts!: number;
  workerIds!: string[];
  /** The task's return value once it is SUCCESSFUL; null before. */
  returnValue!: R | null;
  errors!: TaskError[];
  readonly #source: ResultSource;

  constructor(data: TaskResultData, source: ResultSource) {
    this.#source = source;
    Object.assign(this, data);
  }

  /** True once the task is SUCCESSFUL or FAILED. */
  get isFinished(): boolean {
    return this.status === "SUCCESSFUL" || this.status === "FAILED";
  }

  /** Re-reads this task from its backend and updates this object in place. */
  async refresh(): Promise<this> {
    Object.assign(this, await this.#source.getResultData(this.id));
    return this;
  }
}
