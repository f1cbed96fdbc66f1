import { ConfigError } from "../errors.ts";
import { getRuntime } from "../runtime.ts";
import { CloudTasksDatabaseBackend, type DispatchSummary } from "./backend.ts";

export interface DispatchOptions {
  /** Only this backend; default: every Cloud Tasks backend in the configuration. */
  backendName?: string;
  /** Only tasks enqueued at least this many seconds ago (default 0: all). */
  olderThanSeconds?: number;
  /** At most this many tasks per backend (default 1000). */
  limit?: number;
}

/**
 * Hands to Cloud Tasks every READY task whose Cloud Task was never created
 * (Cloud Tasks was unreachable at enqueue, or the process died between the two
 * writes). Safe to run at any time: a Cloud Task that does exist is not duplicated.
 */
export async function dispatchPendingTasks(options: DispatchOptions = {}): Promise<Record<string, DispatchSummary>> {
  const runtime = await getRuntime();
  const names = options.backendName ? [options.backendName] : Object.keys(runtime.backendConfigs);
  const out: Record<string, DispatchSummary> = {};
  for (const name of names) {
    const backend = runtime.backend(name);
    if (!(backend instanceof CloudTasksDatabaseBackend)) {
      if (options.backendName) throw new ConfigError(`Backend "${name}" is not a Cloud Tasks backend; nothing to dispatch.`);
      continue;
    }
    out[name] = await backend.dispatchPending({ olderThanMs: (options.olderThanSeconds ?? 0) * 1000, limit: options.limit });
  }
  return out;
}
