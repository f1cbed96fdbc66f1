/**
 * Messages between the benchmark (parent) and a worker child over Node's IPC
 * channel. Times are `now()` readings (epoch milliseconds), comparable across
 * the two processes.
 */

export type ParentMessage =
  /** Start claiming; the child answers "started" with the time just before its start call. */
  | { cmd: "start" }
  /** Answer "reached" once this many jobs have started since the worker started. */
  | { cmd: "watch"; count: number }
  /** Answer "rss" with the child's resident memory (read first); with `gc`, also the heap after a full GC. */
  | { cmd: "rss"; gc?: boolean }
  /** Stop the worker, close connections, answer "stopped" and exit. */
  | { cmd: "stop" };

export type ChildMessage =
  | { type: "ready"; pid: number }
  | { type: "started"; at: number; returnedAt: number }
  | { type: "reached"; count: number; at: number }
  | { type: "jobStarted"; tag: number; at: number }
  | { type: "rss"; rss: number; heapUsed: number; heapAfterGc?: number; handled: number }
  | { type: "stopped" }
  | { type: "failed"; error: string };
