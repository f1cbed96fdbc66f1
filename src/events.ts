import { EventEmitter } from "node:events";
import type { TaskResult } from "./task/result.ts";

/** Django's task signals, as Node events. */
export interface TaskEvents {
  taskEnqueued: [result: TaskResult];
  taskStarted: [result: TaskResult];
  taskFinished: [result: TaskResult];
}

/**
 * The process-wide event bus. A listener that throws (or rejects) is logged and
 * ignored: a subscriber must never be able to break a worker or an enqueue.
 */
class TaskEventEmitter extends EventEmitter<TaskEvents> {
  onListenerError: (event: string, error: unknown) => void = (event, error) => {
    process.stderr.write(`[database-task] ERROR listener for ${event} failed: ${String(error)}\n`);
  };

  safeEmit<K extends keyof TaskEvents>(event: K, ...args: TaskEvents[K]): void {
    for (const listener of this.listeners(event) as Array<(...a: TaskEvents[K]) => unknown>) {
      try {
        const out = listener(...args);
        if (out && typeof (out as Promise<unknown>).then === "function") {
          (out as Promise<unknown>).then(undefined, (error) => this.onListenerError(event, error));
        }
      } catch (error) {
        this.onListenerError(event, error);
      }
    }
  }
}

export const events = new TaskEventEmitter();
