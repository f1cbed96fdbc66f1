import { normalizeJson, type JsonValue } from "../task/json.ts";
import { getRegisteredTask, registeredTaskNames } from "../task/registry.ts";
import type { TaskError, TaskResult } from "../task/result.ts";
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
        `listed in "tasks" in database-task.config.ts, so workers import it. Defined here: ${known.length ? known.join(", ") : "(none)"}.`,
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
 * Runs the task's function for one attempt and reports what happened; it
 * never throws. `result` is the task as it stands with this attempt started.
 * A timed-out attempt is reported at once; JavaScript cannot stop the
 * function, so its signal is aborted for it to stop by itself.
 */
export async function invokeTask(result: TaskResult, task?: AnyTask, signal?: AbortSignal): Promise<Invocation> {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", onOuterAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const definition = task ?? getRegisteredTask(result.taskName);
    if (!definition) throw new TaskNotRegisteredError(result.taskName);
    const context: TaskContext = { taskResult: result, attempt: result.attempts, signal: controller.signal };
    const args = definition.takesContext ? [context, ...result.args] : result.args;
    const run = Promise.resolve().then(() => definition.fn(...args));
    const value =
      definition.timeout === null
        ? await run
        : await Promise.race([
            run,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => {
                const error = new TaskTimeoutError(definition.name, definition.timeout!);
                controller.abort(error);
                reject(error);
              }, definition.timeout! * 1000);
            }),
          ]);
    return { ok: true, value: normalizeJson(value === undefined ? null : value, "return value") };
  } catch (error) {
    return { ok: false, error: toTaskError(error) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onOuterAbort);
  }
}
