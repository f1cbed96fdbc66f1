import { EventEmitter } from "node:events";

/**
 * In-process wake-ups: a worker running in the same process as the code that
 * enqueues starts the task at once instead of waiting for its next poll.
 */
const wakeups = new EventEmitter();
wakeups.setMaxListeners(0);

export function signalEnqueued(backendName: string): void {
  wakeups.emit("enqueued", backendName);
}

export function onEnqueued(listener: (backendName: string) => void): () => void {
  wakeups.on("enqueued", listener);
  return () => wakeups.off("enqueued", listener);
}
