import { events } from "../events.ts";
import type { Logger } from "../log.ts";
import type { AttemptOutcome, Storage } from "../storage/storage.ts";
import { TaskResult, type ResultSource, type TaskError, type TaskResultData, type TaskStatus } from "../task/result.ts";
import { invokeTask, type AttemptAbort } from "./execute.ts";
import type { CompletionWriter } from "./completions.ts";
import type { LeaseKeeper } from "./leases.ts";
import { retryDelayMs } from "./retry.ts";

export interface RunContext {
  storage: Storage;
  leases: LeaseKeeper;
  completions: CompletionWriter;
  logger: Logger;
  source: ResultSource;
}

/** A task whose worker stopped renewing its lease is put back this many times, then FAILED. */
export const MAX_LOST_ATTEMPTS = 3;

/** What one attempt came to; the full TaskResult is built only for whoever asks. */
export interface FinishedAttempt {
  status: TaskStatus;
  result(): TaskResult;
}

/**
 * Runs one claimed (RUNNING) task outside any transaction, then records its
 * outcome: SUCCESSFUL, FAILED, or READY again for a retry when attempts remain.
 * `onReturned` fires as soon as the function has returned, before the outcome
 * is written: a worker frees the slot then, so outcomes can be written in
 * batches while the next tasks run. The lease is held until the write lands.
 */
export async function runAttempt(
  context: RunContext,
  claimed: TaskResultData,
  {
    onReturned,
    abort,
    record,
  }: {
    onReturned?: () => void;
    abort?: AttemptAbort;
    /** Where the outcome goes instead of the lease's completion writer: a locked claim's batch (it logs its own failures). */
    record?: (outcome: AttemptOutcome) => Promise<boolean>;
  } = {},
): Promise<FinishedAttempt> {
  const { leases, completions, logger, source } = context;
  // The TaskResult of the started attempt, made only for a listener or a function that takes a context.
  let started: TaskResult | null = null;
  const asStarted = () => (started ??= new TaskResult(claimed, source));
  if (events.listenerCount("taskStarted") > 0) events.safeEmit("taskStarted", asStarted());
  if (!record) leases.track(claimed.id);
  let invocation;
  try {
    invocation = await invokeTask(claimed, asStarted, undefined, abort);
  } finally {
    onReturned?.();
  }
  const now = new Date();
  const errors = invocation.ok ? claimed.errors : [...claimed.errors, invocation.error];
  const retry = !invocation.ok && claimed.attempts < claimed.maxAttempts;
  const outcome: AttemptOutcome = {
    id: claimed.id,
    attempt: claimed.attempts,
    status: invocation.ok ? "SUCCESSFUL" : retry ? "READY" : "FAILED",
    returnValue: invocation.ok ? invocation.value : null,
    errors: invocation.ok ? null : errors,
    finishedAt: retry ? null : now,
    availableAt: retry ? new Date(now.getTime() + retryDelayMs(claimed.attempts)) : null,
    startedAt: claimed.lastAttemptedAt,
  };
  if (record) await record(outcome);
  else if (!(await completions.write(outcome))) {
    logger.warn("Task outcome not recorded: its lease had expired and another attempt took over", {
      taskId: claimed.id,
      taskName: claimed.taskName,
    });
  }
  if (!record) leases.untrack(claimed.id);
  let finished: TaskResult | null = null;
  const attempt: FinishedAttempt = {
    status: outcome.status,
    result: () =>
      (finished ??= new TaskResult(
        { ...claimed, status: outcome.status, returnValue: outcome.returnValue, errors, finishedAt: outcome.finishedAt },
        source,
      )),
  };
  if (events.listenerCount("taskFinished") > 0) events.safeEmit("taskFinished", attempt.result());
  return attempt;
}

/** `runAttempt` for callers that want the finished task (runTaskById, processOneTask). */
export async function runClaimedTask(context: RunContext, claimed: TaskResultData): Promise<TaskResult> {
  return (await runAttempt(context, claimed)).result();
}

/**
 * Puts back RUNNING tasks whose lease ran out (their process died), noting the
 * lost attempt in their errors. Returns how many were recovered.
 */
export async function recoverExpiredTasks(storage: Storage, logger: Logger, now = new Date(), limit = 100): Promise<number> {
  let recovered = 0;
  for (const task of await storage.taskListExpired(now, limit)) {
    if (await recoverExpiredTask(storage, logger, task, now)) recovered++;
  }
  return recovered;
}

/**
 * Puts back one RUNNING task whose lease ran out before `now`: READY again in
 * its place in the queue, the lost attempt recorded as a `WorkerLost` error
 * naming the worker; FAILED once it has lost MAX_LOST_ATTEMPTS. Returns false
 * when the task was no longer that attempt's (finished, renewed, or another
 * process recovered it first).
 */
export async function recoverExpiredTask(storage: Storage, logger: Logger, task: TaskResultData, now = new Date()): Promise<boolean> {
  const lost: TaskError = {
    errorClass: "WorkerLost",
    message:
      `Attempt ${task.attempts} by worker ${task.workerIds.at(-1) ?? "?"} stopped renewing its lease ` +
      `(the process died or hung); the task was put back in the queue.`,
    stack: "",
  };
  const lostCount = task.errors.filter((e) => e.errorClass === "WorkerLost").length + 1;
  const giveUp = lostCount >= MAX_LOST_ATTEMPTS;
  const written = await storage.taskFinishAttempt({
    id: task.id,
    attempt: task.attempts,
    status: giveUp ? "FAILED" : "READY",
    returnValue: null,
    errors: [...task.errors, lost],
    finishedAt: giveUp ? now : null,
    // Unchanged available_at: the task keeps its place in the queue instead of going to the back.
    availableAt: null,
    leaseExpiredBefore: now,
  });
  if (written) {
    logger.warn(giveUp ? "Task lost its worker too often; marked FAILED" : "Recovered task whose worker stopped renewing its lease", {
      taskId: task.id,
      taskName: task.taskName,
      attempt: task.attempts,
    });
  }
  return written;
}

/**
 * Gives back tasks still running when a worker's shutdown grace period ends:
 * READY again at once (not after the lease), with the interrupted attempt
 * noted in their errors.
 */
export async function abandonRunningTasks(storage: Storage, tasks: TaskResultData[], workerId: string): Promise<void> {
  const now = new Date();
  await storage.taskFinishAttempts(tasks.map((task) => interruptedOutcome(task, workerId, now)));
}

/** The outcome of an attempt cut short by its worker's shutdown: READY again at once, the interruption noted. */
export function interruptedOutcome(task: TaskResultData, workerId: string, now = new Date()): AttemptOutcome {
  return {
    id: task.id,
    attempt: task.attempts,
    status: "READY",
    returnValue: null,
    errors: [
      ...task.errors,
      {
        errorClass: "WorkerShutdown",
        message: `Attempt ${task.attempts} was interrupted: worker ${workerId} shut down before it finished; the task was put back in the queue.`,
        stack: "",
      },
    ],
    finishedAt: null,
    availableAt: now,
    startedAt: task.lastAttemptedAt,
  };
}
