import { toStoredJson, type JsonValue } from "../task/json.ts";
import { getRegisteredTask, missingTaskHint, registeredTaskNames } from "../task/registry.ts";
import type { TaskError, TaskResult, TaskResultData } from "../task/result.ts";
import type { AnyTask, TaskContext } from "../task/task.ts";

export type Invocation = { ok: true; value: JsonValue } | { ok: false; error: TaskError };

export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    return { errorClass: error.constructor?.name || error.name || "Error", message: error.message, stack: error.stack ?? String(error) };
  }
  return { errorClass: typeof error, message: String(error), stack: String(error) };
}

/** Thrown (and recorded) when a stored task names a function this process does not define. */
export class TaskNotRegisteredError extends Error {
  constructor(taskName: string) {
    const known = registeredTaskNames();
    super(
      `No task named "${taskName}" is defined in this process. Define it with task(fn, { name: "${taskName}" }) in a module ` +
        `listed in "tasks" in database-task.config.ts, so workers import it. Defined here: ${known.length ? known.join(", ") : "(none)"}.${missingTaskHint(taskName)}`,
    );
    this.name = "TaskNotRegisteredError";
  }
}

/** Recorded when an attempt outlives its task's `timeout`. */
export class TaskTimeoutError extends Error {
  constructor(taskName: string, seconds: number) {
    super(`Task "${taskName}" did not finish within its timeout of ${seconds} s; the attempt counts as failed.`);
    this.name = "TaskTimeoutError";
  }
}

/**
 * The abort side of one attempt. The AbortSignal is made only when the
 * function asks for it (most never do): one controller per task would be a
 * measurable share of a no-op task's cost.
 */
export class AttemptAbort {
  #controller: AbortController | null = null;
  #reason: unknown = undefined;
  #aborted = false;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/**
 * Runs the task's function for one attempt and reports what happened; it
 * never throws. `data` is the task as it stands with this attempt started;
 * `asResult` gives it as the TaskResult a function that takes a context sees
 * (made only for those). A timed-out attempt is reported at once; JavaScript
 * cannot stop the function, so its signal is aborted for it to stop by itself.
 * A function that returns a plain value is reported without a promise: a
 * worker's no-op tasks spent a measurable share of their time in promise
 * bookkeeping.
 */
export function invokeTask(
  data: TaskResultData,
  asResult: () => TaskResult,
  task?: AnyTask,
  abort: AttemptAbort = new AttemptAbort(),
): Invocation | Promise<Invocation> {
  try {
    const definition = task ?? getRegisteredTask(data.taskName);
    if (!definition) throw new TaskNotRegisteredError(data.taskName);
    const args = definition.takesContext ? [contextFor(asResult(), abort), ...data.args] : data.args;
    if (definition.timeout !== null) return settle(withTimeout(definition, args, abort));
    const value: unknown = definition.fn(...args);
    return isThenable(value) ? settle(value) : succeeded(value);
  } catch (error) {
    return { ok: false, error: toTaskError(error) };
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as PromiseLike<unknown>).then === "function";
}

async function settle(pending: PromiseLike<unknown>): Promise<Invocation> {
  try {
    return succeeded(await pending);
  } catch (error) {
    return { ok: false, error: toTaskError(error) };
  }
}

function succeeded(value: unknown): Invocation {
  try {
    return { ok: true, value: toStoredJson(value === undefined ? null : value, "return value") };
  } catch (error) {
    return { ok: false, error: toTaskError(error) };
  }
}

async function withTimeout(definition: AnyTask, args: unknown[], abort: AttemptAbort): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      definition.fn(...args),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new TaskTimeoutError(definition.name, definition.timeout!);
          abort.abort(error);
          reject(error);
        }, definition.timeout! * 1000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function contextFor(result: TaskResult, abort: AttemptAbort): TaskContext {
  return {
    taskResult: result,
    attempt: result.attempts,
    get signal() {
      return abort.signal;
    },
  };
}
