import { getRuntime, type Runtime } from "../runtime.ts";
import type { TaskResult, TaskResultData } from "../task/result.ts";
import { errorMessage } from "../errors.ts";
import { recoverExpiredTasks, runClaimedTask, type RunContext } from "./run.ts";
import { onEnqueued } from "./wake.ts";
import { newWorkerId } from "./worker-id.ts";

export interface WorkerOptions {
  /** Default "default". */
  backendName?: string;
  /** Only this queue; all queues when absent. */
  queueName?: string | null;
  /** Tasks run at once. Default: the config's worker.concurrency, else 1. */
  concurrency?: number;
  /** Keep polling when the queue is empty (otherwise stop once it is drained). Default false. */
  continuous?: boolean;
  /** Seconds between polls when idle. Default: the config's worker.interval, else 5. */
  interval?: number;
  /** Stop after this many tasks; 0 = unlimited (default). */
  maxTasks?: number;
  workerId?: string;
  /** Called when a task is claimed, before it runs. */
  onTaskStart?: (task: TaskResultData) => void;
  /** Called with each task's outcome. */
  onTaskFinish?: (result: TaskResult) => void;
  /** Called each time a continuous worker finds nothing to do. */
  onIdle?: () => void;
}

export interface WorkerSummary {
  processed: number;
  succeeded: number;
  failed: number;
  /** Tasks that failed and were put back for another attempt. */
  retried: number;
  reachedMaxTasks: boolean;
}

const MAX_OUTAGE_BACKOFF_MS = 30_000;

/**
 * Claims due tasks (as many as it has free slots, in one statement), runs them
 * concurrently, and records each outcome. Wakes early when a task is enqueued
 * in the same process or a slot frees up; otherwise polls every `interval`.
 */
export class Worker {
  readonly workerId: string;
  readonly options: WorkerOptions;
  #stopping = false;
  #wake: (() => void) | null = null;
  #woken = false;

  constructor(options: WorkerOptions = {}) {
    this.options = options;
    this.workerId = options.workerId ?? newWorkerId();
  }

  /** Stop claiming; `run()` resolves once the tasks already running have finished. */
  stop(): void {
    this.#stopping = true;
    this.wake();
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  async run(runtimeArg?: Runtime): Promise<WorkerSummary> {
    const runtime = runtimeArg ?? (await getRuntime());
    const backendName = this.options.backendName ?? "default";
    const backend = runtime.databaseBackend(backendName);
    const storage = runtime.storage();
    const leases = runtime.leases();
    const logger = runtime.logger;
    const context: RunContext = { storage, leases, logger, source: backend };
    const concurrency = this.options.concurrency ?? runtime.config.worker?.concurrency ?? 1;
    const intervalMs = (this.options.interval ?? runtime.config.worker?.interval ?? 5) * 1000;
    const maxTasks = this.options.maxTasks ?? 0;
    const summary: WorkerSummary = { processed: 0, succeeded: 0, failed: 0, retried: 0, reachedMaxTasks: false };
    const running = new Set<Promise<void>>();
    let claimed = 0;
    let outageSince: number | null = null;
    let outageBackoff = 500;
    let nextRecovery = 0;
    const unsubscribe = onEnqueued((name) => name === backendName && this.wake());

    try {
      while (!this.#stopping) {
        const quota = maxTasks > 0 ? maxTasks - claimed : Infinity;
        if (quota <= 0) {
          summary.reachedMaxTasks = true;
          break;
        }
        const free = Math.min(concurrency - running.size, quota);
        let batch: TaskResultData[] = [];
        this.#woken = false;
        try {
          if (Date.now() >= nextRecovery) {
            await recoverExpiredTasks(storage, logger);
            nextRecovery = Date.now() + Math.max(1000, leases.leaseMs / 2);
          }
          if (free > 0) {
            const now = new Date();
            batch = await storage.taskClaim({
              backendName,
              queueName: this.options.queueName,
              limit: free,
              workerId: this.workerId,
              now,
              lockedUntil: leases.lockedUntil(now),
            });
          }
          if (outageSince !== null) {
            logger.info("Database reachable again; worker resumed", { workerId: this.workerId, downMs: Date.now() - outageSince });
            outageSince = null;
            outageBackoff = 500;
          }
        } catch (error) {
          // A one-shot run (cron, processTasks) reports the failure; a continuous worker rides it out.
          if (!this.options.continuous) throw error;
          if (outageSince === null) {
            outageSince = Date.now();
            logger.error("Database unavailable; worker will keep retrying", { workerId: this.workerId, error: errorMessage(error) });
          }
          await this.#sleep(outageBackoff);
          outageBackoff = Math.min(outageBackoff * 2, MAX_OUTAGE_BACKOFF_MS);
          continue;
        }

        for (const task of batch) {
          claimed++;
          this.options.onTaskStart?.(task);
          const execution = runClaimedTask(context, task).then((result) => {
            summary.processed++;
            if (result.status === "SUCCESSFUL") summary.succeeded++;
            else if (result.status === "FAILED") summary.failed++;
            else summary.retried++;
            this.options.onTaskFinish?.(result);
          });
          const tracked: Promise<void> = execution.finally(() => {
            running.delete(tracked);
            this.wake();
          });
          running.add(tracked);
        }

        if (batch.length > 0 && batch.length === free && running.size < concurrency) continue; // there may be more due
        if (batch.length === 0 && running.size === 0) {
          if (!this.options.continuous) break;
          this.options.onIdle?.();
        }
        if (!this.#woken) await this.#sleep(running.size >= concurrency ? MAX_OUTAGE_BACKOFF_MS : intervalMs);
      }
    } finally {
      unsubscribe();
      await Promise.all(running);
    }
    return summary;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }
}
