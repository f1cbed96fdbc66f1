import type { Knex } from "knex";
import { ConfigError, errorMessage } from "../errors.ts";
import { getRuntime, type Runtime } from "../runtime.ts";
import type { TaskResult, TaskResultData } from "../task/result.ts";
import type { AttemptOutcome, ClaimRequest, LockedClaim } from "../storage/storage.ts";
import type { Logger } from "../log.ts";
import { AttemptAbort } from "./execute.ts";
import { abandonRunningTasks, interruptedOutcome, recoverExpiredTasks, runAttempt, type FinishedAttempt } from "./run.ts";
import { LockedBatch } from "./locked-batch.ts";
import { checkClaimMode, type ClaimMode } from "../config/config.ts";
import { onEnqueued } from "./wake.ts";
import { newWorkerId } from "./worker-id.ts";

export interface WorkerOptions {
  /** Default "default". */
  backendName?: string;
  /** Only this queue; all queues when absent. */
  queueName?: string | null;
  /** Tasks run at once. Default: the config's worker.concurrency, else 1. */
  concurrency?: number;
  /**
   * Tasks claimed ahead of free slots, so one claim serves several tasks.
   * Default: the config's worker.prefetch, else 0 (claim only for free slots).
   */
  prefetch?: number;
  /**
   * "lease" (default): a claim marks its tasks RUNNING with a lease.
   * "lock" (PostgreSQL): a claim only locks them, in a transaction held until
   * its batch's outcomes are written. Default: the config's worker.claimMode.
   */
  claimMode?: ClaimMode;
  /** Keep polling when the queue is empty (otherwise stop once it is drained). Default false. */
  continuous?: boolean;
  /** Seconds between polls when idle. Default: the config's worker.interval, else 5. */
  interval?: number;
  /** Stop after this many tasks; 0 = unlimited (default). */
  maxTasks?: number;
  workerId?: string;
  /** Called when a task starts running. */
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
/** Node runs a longer timer after 1 ms (TimeoutOverflowWarning): a huge interval or grace period would mean none at all. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The most connections the knex pool opens (knex's default is 10). */
function poolSize(knex: Knex): number {
  const max = (knex.client as { pool?: { max?: number } }).pool?.max;
  return typeof max === "number" && max > 0 ? max : 10;
}

/**
 * Claims due tasks in batches (one statement per batch), runs up to
 * `concurrency` at once, and records each outcome. Wakes early when a task is
 * enqueued in the same process, when the database notifies (PostgreSQL), or
 * when a slot frees up; otherwise polls every `interval`.
 */
export class Worker {
  readonly workerId: string;
  readonly options: WorkerOptions;
  #stopping = false;
  #wake: (() => void) | null = null;
  #woken = false;
  #graceTimer: NodeJS.Timeout | null = null;
  #graceOver: (() => void) | null = null;
  #graceExpired = false;
  /** Tasks given back because the grace period ended before they finished. */
  abandoned = 0;

  constructor(options: WorkerOptions = {}) {
    this.options = options;
    this.workerId = options.workerId ?? newWorkerId();
  }

  /**
   * Stop claiming; `run()` resolves once the tasks already running have
   * finished, or after `graceMs` at most: tasks still running then are put back
   * in the queue (their AbortSignal is aborted) and `run()` resolves.
   */
  stop(options: { graceMs?: number } = {}): void {
    this.#stopping = true;
    if (options.graceMs !== undefined) {
      this.#graceTimer ??= setTimeout(() => {
        this.#graceExpired = true;
        this.#graceOver?.();
      }, Math.min(options.graceMs, MAX_TIMER_MS));
      this.#graceTimer.unref?.();
    }
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
    const context = runtime.runContext(backend);
    const concurrency = this.options.concurrency ?? runtime.config.worker?.concurrency ?? 1;
    const prefetch = this.options.prefetch ?? runtime.config.worker?.prefetch ?? 0;
    const capacity = concurrency + prefetch;
    const intervalMs = (this.options.interval ?? runtime.config.worker?.interval ?? 5) * 1000;
    const maxTasks = this.options.maxTasks ?? 0;
    const lockMode = checkClaimMode(this.options.claimMode ?? runtime.config.worker?.claimMode ?? "lease", "Worker option claimMode") === "lock";
    if (lockMode && !storage.capabilities.lockedClaims) {
      throw new ConfigError(
        `claimMode "lock" needs PostgreSQL (it holds row locks in an open transaction while tasks run); ` +
          `this database is ${storage.dialect}. Use the default claimMode "lease".`,
      );
    }
    // Lock mode: each claimed task's batch, and the batches whose transaction is open. Each holds a
    // pooled connection until its last task is done, so they stay fewer than the pool's connections:
    // the LISTEN connection and the tasks' own queries (an enqueue from inside a task) need one too.
    const batchOf = new Map<string, LockedBatch>();
    const openBatches = new Set<LockedBatch>();
    const maxOpenBatches = Math.max(1, poolSize(storage.knex) - 2);
    const summary: WorkerSummary = { processed: 0, succeeded: 0, failed: 0, retried: 0, reachedMaxTasks: false };
    // `executing`: tasks whose function still runs (they hold the slots); `recording`: their outcome writes.
    const recording = new Set<Promise<void>>();
    const buffered: TaskResultData[] = [];
    const executing = new Map<string, { task: TaskResultData; abort: AttemptAbort }>();
    let claimed = 0;
    let lastClaimFull = false;
    let outageSince: number | null = null;
    let outageBackoff = 500;
    let nextRecovery = 0;
    let recovering: Promise<unknown> | null = null;
    const unsubscribe = onEnqueued((name) => name === backendName && this.wake());
    // Only a worker that waits for work listens; a one-shot run just drains what is due.
    const stopListening = this.options.continuous ? runtime.listenForTasks(() => this.wake()) : async () => {};

    const recoverInBackground = () => {
      recovering ??= recoverExpiredTasks(storage, logger)
        .then((recovered) => {
          if (recovered > 0) this.wake();
        })
        .catch((error: unknown) => {
          // During an outage the failing claims have said so once already: no line per check.
          const log = outageSince === null ? logger.warn : logger.debug;
          log.call(logger, "Could not check for tasks whose worker died; will retry", { error: errorMessage(error) });
        })
        .finally(() => (recovering = null));
    };

    let allReturned: (() => void) | null = null;
    const slotFreed = (id: string) => {
      executing.delete(id);
      if (executing.size === 0) allReturned?.();
      // Hand the slot to a prefetched task at once: the loop may be waiting on a claim.
      if (!this.#stopping && buffered.length > 0) start(buffered.shift()!);
      this.wake();
    };
    const outcomeRecorded = (attempt: FinishedAttempt) => {
      summary.processed++;
      if (attempt.status === "SUCCESSFUL") summary.succeeded++;
      else if (attempt.status === "FAILED") summary.failed++;
      else summary.retried++;
      this.options.onTaskFinish?.(attempt.result());
    };
    const recordInBatch = (id: string) => (outcome: AttemptOutcome) => {
      const batch = batchOf.get(id);
      batchOf.delete(id);
      return batch ? batch.record(outcome) : Promise.resolve(false);
    };
    const start = (task: TaskResultData) => {
      if (lockMode) {
        // Nothing was written at claim time: the attempt starts now, and its commit records when.
        task.lastAttemptedAt = new Date();
        task.startedAt ??= task.lastAttemptedAt;
      }
      this.options.onTaskStart?.(task);
      const abort = new AttemptAbort();
      executing.set(task.id, { task, abort });
      const record: Promise<void> = runAttempt(context, task, {
        onReturned: () => slotFreed(task.id),
        abort,
        record: lockMode ? recordInBatch(task.id) : undefined,
      })
        .then(outcomeRecorded)
        .finally(() => {
          recording.delete(record);
          this.wake();
        });
      recording.add(record);
    };

    try {
      while (!this.#stopping) {
        while (buffered.length > 0 && executing.size < concurrency) start(buffered.shift()!);
        const inFlight = executing.size + buffered.length;
        const quota = maxTasks > 0 ? maxTasks - claimed : Infinity;
        if (quota <= 0 && inFlight === 0 && recording.size === 0) {
          summary.reachedMaxTasks = true;
          break;
        }
        // Refill when at most half the capacity is in flight: with prefetch, one claim then serves many tasks.
        // Outcomes not yet written count too, beyond two capacities' worth (a batch being written and the
        // next one gathering): when the database records outcomes slower than tasks run, claiming waits
        // for it instead of piling finished tasks up in memory. (At one capacity, the claims and the
        // outcome writes of a fast drain took turns instead of running side by side.)
        const unwritten = recording.size - executing.size;
        const room = Math.min(capacity - inFlight - Math.max(0, unwritten - 2 * capacity), quota);
        const shouldClaim =
          room > 0 && openBatches.size < maxOpenBatches && (inFlight === 0 || inFlight <= capacity / 2 || executing.size < concurrency);
        let batch: TaskResultData[] = [];
        this.#woken = false;
        try {
          if (Date.now() >= nextRecovery) {
            // A continuous worker does this housekeeping beside its claims, not in front of them: on a
            // table the planner has no statistics for yet, the look for expired leases is a scan that
            // held up a worker's start. A one-shot run recovers first, so it also runs what it recovers.
            if (this.options.continuous) recoverInBackground();
            else await recoverExpiredTasks(storage, logger);
            nextRecovery = Date.now() + Math.max(1000, leases.leaseMs / 2);
          }
          if (shouldClaim) {
            const now = new Date();
            const request: Omit<ClaimRequest, "lockedUntil"> = {
              backendName,
              queueName: this.options.queueName,
              // Nothing to run after finding the queue short (or at the start): claim just enough to
              // fill the slots, which is quick, and the rest while those run, rather than leave every
              // slot idle while a big batch is claimed. Not after a full claim: tasks that finish
              // before the next look would otherwise keep the worker claiming a slotful at a time.
              limit: inFlight === 0 && !lastClaimFull ? Math.min(room, concurrency) : room,
              workerId: this.workerId,
              now,
            };
            if (lockMode) {
              const locked = await storage.taskClaimLocked(request);
              if (locked.waitedOnLock) {
                logger.warn("A claim waited too long for a lock another transaction holds (a migration, or another worker's batch); trying again", {
                  workerId: this.workerId,
                });
              }
              batch = this.#openBatch(locked, logger, batchOf, openBatches);
            } else {
              batch = await storage.taskClaim({ ...request, lockedUntil: leases.lockedUntil(now) });
            }
            lastClaimFull = batch.length === request.limit;
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

        claimed += batch.length;
        for (const task of batch) {
          if (!lockMode) leases.track(task.id);
          if (executing.size < concurrency) start(task);
          else buffered.push(task);
        }

        if (batch.length > 0 && batch.length === room && executing.size < concurrency) continue; // there may be more due
        if (batch.length === 0 && executing.size === 0 && buffered.length === 0 && recording.size === 0) {
          if (quota <= 0) continue;
          if (!this.options.continuous) break;
          this.options.onIdle?.();
        }
        if (!this.#woken) {
          // Busy: a finishing task wakes the loop. Idle: poll at the interval (or sooner on a wake-up).
          const busy = executing.size >= concurrency || (shouldClaim === false && room > 0);
          await this.#sleep(busy ? MAX_OUTAGE_BACKOFF_MS : intervalMs);
        }
      }
    } finally {
      unsubscribe();
      await stopListening();
      await recovering;
      if (buffered.length > 0) {
        // Claimed ahead but never started: give them back rather than make shutdown wait for them.
        const release = buffered.splice(0);
        if (lockMode) {
          // Left out of their batch's commit, they were never written to: READY as they were.
          for (const task of release) batchOf.get(task.id)?.giveBack(task.id);
          release.length = 0;
        }
        for (const task of release) leases.untrack(task.id);
        if (release.length > 0) {
          await storage.taskRelease(release.map((task) => ({ id: task.id, attempt: task.attempts }))).catch((error: unknown) =>
            logger.warn("Could not give back prefetched tasks; they return when their lease expires", { error: errorMessage(error) }),
          );
        }
      }
      const graceOver = new Promise<"grace-over">((resolve) => {
        this.#graceOver = () => resolve("grace-over");
        if (this.#graceExpired) resolve("grace-over");
      });
      const returned = new Promise<void>((resolve) => {
        allReturned = resolve;
        if (executing.size === 0) resolve();
      });
      if ((await Promise.race([returned, graceOver])) === "grace-over" && executing.size > 0) {
        const interrupted = [...executing.values()];
        for (const { abort } of interrupted) abort.abort(new Error("worker shutting down"));
        this.abandoned = interrupted.length;
        if (lockMode) {
          // Their rows are locked by this worker's own transactions: the interruption goes in with the batch.
          for (const { task } of interrupted) void recordInBatch(task.id)(interruptedOutcome(task, this.workerId));
        } else {
          await abandonRunningTasks(storage, interrupted.map((e) => e.task), this.workerId).catch((error: unknown) =>
            logger.warn("Could not give back interrupted tasks; they return when their lease expires", { error: errorMessage(error) }),
          );
        }
        for (const { task } of interrupted) leases.untrack(task.id);
      } else {
        await Promise.race([Promise.all(recording), graceOver]);
      }
      // Every batch is settled by now (each task finished, was given back or interrupted); committing is all that is left.
      await Promise.all([...openBatches].map((batch) => batch.close()));
      if (this.#graceTimer) clearTimeout(this.#graceTimer);
    }
    return summary;
  }

  /** Starts tracking a locked claim's batch; hands back its tasks. An empty claim has ended its transaction already. */
  #openBatch(claim: LockedClaim, logger: Logger, batchOf: Map<string, LockedBatch>, openBatches: Set<LockedBatch>): TaskResultData[] {
    if (claim.tasks.length === 0) return [];
    const batch = new LockedBatch(claim, logger);
    openBatches.add(batch);
    for (const task of batch.tasks) batchOf.set(task.id, batch);
    void batch.committed.then(() => {
      openBatches.delete(batch);
      this.wake();
    });
    return batch.tasks;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.min(ms, MAX_TIMER_MS));
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
