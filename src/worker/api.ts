import { InvalidTaskError, TaskResultDoesNotExistError } from "../errors.ts";
import { getRuntime } from "../runtime.ts";
import { isUuid } from "../backends/database.ts";
import type { TaskResult, TaskStatus } from "../task/result.ts";
import { recoverExpiredTasks, runClaimedTask } from "./run.ts";
import { newWorkerId } from "./worker-id.ts";
import { Worker } from "./worker.ts";

export interface QueueSelection {
  /** Only this queue; all queues when absent. */
  queueName?: string | null;
  /** Default "default". */
  backendName?: string;
}

/** Claims and runs one due task; null when none is due. */
export async function processOneTask(options: QueueSelection & { workerId?: string } = {}): Promise<TaskResult | null> {
  const results = await processTasks({ ...options, maxTasks: 1 });
  return results[0] ?? null;
}

/** Runs due tasks one after another until none is left or `maxTasks` (0 = unlimited) have run. */
export async function processTasks(
  options: QueueSelection & { maxTasks?: number; workerId?: string } = {},
): Promise<TaskResult[]> {
  const maxTasks = options.maxTasks ?? 0;
  if (!Number.isInteger(maxTasks) || maxTasks < 0) throw new InvalidTaskError(`maxTasks must be a whole number >= 0; got ${maxTasks}.`);
  const results: TaskResult[] = [];
  const worker = new Worker({
    backendName: options.backendName,
    queueName: options.queueName,
    workerId: options.workerId,
    maxTasks,
    concurrency: 1,
    continuous: false,
    onTaskFinish: (result) => results.push(result),
  });
  await worker.run();
  return results;
}

/** READY tasks whose runAfter has come (delayed ones are not counted). */
export async function getPendingTaskCount(options: QueueSelection = {}): Promise<number> {
  const runtime = await getRuntime();
  const backendName = options.backendName ?? "default";
  runtime.databaseBackend(backendName);
  return runtime.storage().taskCountPending({ backendName, queueName: options.queueName, now: new Date() });
}

/**
 * Runs one stored task by id, on its own backend: a READY task, or a FAILED one
 * when `allowRetry`. Resolves to null when the task is in no runnable status
 * (already SUCCESSFUL, RUNNING elsewhere, or FAILED without allowRetry).
 * Throws TaskResultDoesNotExistError for an unknown id.
 */
export async function runTaskById(id: string, options: { allowRetry?: boolean; workerId?: string } = {}): Promise<TaskResult | null> {
  if (typeof id !== "string" || !isUuid(id)) throw new TaskResultDoesNotExistError(String(id));
  const runtime = await getRuntime();
  const storage = runtime.storage();
  const leases = runtime.leases();
  const now = new Date();
  const statuses: TaskStatus[] = options.allowRetry ? ["READY", "FAILED"] : ["READY"];
  const claimed = await storage.taskClaimById({
    id,
    statuses,
    workerId: options.workerId ?? newWorkerId(),
    now,
    lockedUntil: leases.lockedUntil(now),
  });
  if (claimed === "missing") throw new TaskResultDoesNotExistError(id);
  if (claimed === "not-runnable") return null;
  let backend;
  try {
    backend = runtime.databaseBackend(claimed.backend);
  } catch (error) {
    // Its backend is not configured here: give the task back rather than leave it RUNNING until its lease expires.
    await storage.taskRelease([{ id: claimed.id, attempt: claimed.attempts }]);
    throw error;
  }
  return runClaimedTask(runtime.runContext(backend), claimed);
}

export interface PurgeOptions {
  /** Only tasks finished more than this many days ago; 0 (default) = all. */
  days?: number;
  /** Default ["SUCCESSFUL", "FAILED"]; only these two are accepted. */
  statuses?: string[];
  /** Rows deleted per statement. Default 1000. */
  batchSize?: number;
  dryRun?: boolean;
  /** Only this backend's tasks; all backends when absent. */
  backendName?: string | null;
  onCount?: (total: number) => void;
  onBatch?: (deletedSoFar: number, total: number) => void;
}

export interface PurgeResult {
  dryRun: boolean;
  /** Tasks that matched. */
  count: number;
  /** Tasks deleted (0 on a dry run). */
  deleted: number;
  statuses: TaskStatus[];
  cutoff: Date | null;
}

export const PURGEABLE_STATUSES: TaskStatus[] = ["SUCCESSFUL", "FAILED"];

/** Normalizes a status list the way the purge command does: trimmed, upper-cased, only finished statuses kept. */
export function parsePurgeStatuses(statuses: string[] | string): TaskStatus[] {
  const list = typeof statuses === "string" ? statuses.split(",") : statuses;
  const wanted = new Set(list.map((s) => String(s).trim().toUpperCase()));
  return PURGEABLE_STATUSES.filter((s) => wanted.has(s));
}

/** Deletes finished tasks in batches. */
export async function purgeCompletedTasks(options: PurgeOptions = {}): Promise<PurgeResult> {
  const days = options.days ?? 0;
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(days) || days < 0) throw new InvalidTaskError(`days must be a whole number >= 0 (0 = all); got ${days}.`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidTaskError(`batchSize must be a positive whole number; got ${batchSize}.`);
  const statuses = parsePurgeStatuses(options.statuses ?? PURGEABLE_STATUSES);
  if (statuses.length === 0) throw new InvalidTaskError("No valid statuses specified; use SUCCESSFUL and/or FAILED.");
  const runtime = await getRuntime();
  if (options.backendName) runtime.databaseBackend(options.backendName);
  const cutoff = days > 0 ? new Date(Date.now() - days * 86_400_000) : null;
  const dryRun = options.dryRun ?? false;
  const { count, deleted } = await runtime.storage().taskPurge({
    statuses,
    finishedBefore: cutoff,
    backendName: options.backendName,
    batchSize,
    dryRun,
    onCount: options.onCount,
    onBatch: options.onBatch,
  });
  return { dryRun, count, deleted, statuses, cutoff };
}

/** Puts back tasks whose worker died (expired lease). Workers do this on their own; exposed for cron-only setups. */
export async function recoverLostTasks(): Promise<number> {
  const runtime = await getRuntime();
  return recoverExpiredTasks(runtime.storage(), runtime.logger);
}
