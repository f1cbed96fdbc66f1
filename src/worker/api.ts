import { InvalidTaskError, TaskResultDoesNotExistError } from "../errors.ts";
import { DEFAULT_DELIVERY_LEASE_MS } from "../backends/backend.ts";
import { getRuntime, type Runtime } from "../runtime.ts";
import { isUuid } from "../backends/database.ts";
import type { TaskResult, TaskResultData, TaskStatus } from "../task/result.ts";
import type { LeaseKeeper } from "./leases.ts";
import { recoverExpiredTask, recoverExpiredTasks, runClaimedTask } from "./run.ts";
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

/** What `executeTaskById` did. */
export type ExecuteOutcome =
  /** The task ran (an attempt was made and recorded); `result` is how it ended. */
  | { executed: true; result: TaskResult; tookOver: boolean }
  /** Another delivery or worker holds the task under a live lease: nothing ran. Try again after `retryAfterSeconds`. */
  | { executed: false; reason: "running-elsewhere"; status: "RUNNING"; lockedUntil: Date; retryAfterSeconds: number }
  /** The task is in no runnable status (SUCCESSFUL, or FAILED without allowRetry): nothing ran, nothing will. */
  | { executed: false; reason: "not-runnable"; status: TaskStatus };

export interface ExecuteOptions {
  /** Run a FAILED task again too (a Cloud Tasks retry). Default false: only READY. */
  allowRetry?: boolean;
  workerId?: string;
}

/**
 * What a delivery of one task (the execute endpoint, a Cloud Task) does: claims
 * the stored task by id and runs it on its own backend, holding a short lease
 * (the backend's `deliveryLeaseMs`, default 30 s) renewed while it runs.
 *
 * - READY (or FAILED with `allowRetry`): runs it.
 * - RUNNING under a lease that ran out (the process running it died): records
 *   the lost attempt as `WorkerLost`, takes the task over and runs it.
 * - RUNNING under a live lease: runs nothing and says until when the lease
 *   holds, so the caller can ask to be called again instead of acknowledging
 *   work that has not been done.
 * - Anything else: runs nothing (`not-runnable`).
 *
 * Throws TaskResultDoesNotExistError for an unknown id.
 */
export async function executeTaskById(id: string, options: ExecuteOptions = {}): Promise<ExecuteOutcome> {
  if (typeof id !== "string" || !isUuid(id)) throw new TaskResultDoesNotExistError(String(id));
  const runtime = await getRuntime();
  const storage = runtime.storage();
  const statuses: TaskStatus[] = options.allowRetry ? ["READY", "FAILED"] : ["READY"];
  const workerId = options.workerId ?? newWorkerId();
  const claimLeases = runtime.leases(DEFAULT_DELIVERY_LEASE_MS);
  let tookOver = false;
  // A few rounds at most: each round either claims, answers, or saw the row change under it (another
  // process recovered it between our UPDATE and our read), in which case it is claimed again.
  for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
    const now = new Date();
    const claimed = await storage.taskClaimById({ id, statuses, workerId, now, lockedUntil: claimLeases.lockedUntil(now) });
    if (claimed === "missing") throw new TaskResultDoesNotExistError(id);
    if ("taskName" in claimed) return { executed: true, result: await runDelivered(runtime, claimed, claimLeases), tookOver };
    const { status, lockedUntil } = claimed;
    if (statuses.includes(status)) continue; // runnable by the time we looked: claim it again
    if (status !== "RUNNING" || !lockedUntil) return { executed: false, reason: "not-runnable", status };
    if (lockedUntil.getTime() > now.getTime() || tookOver) return runningElsewhere(lockedUntil, now);
    // The lease ran out: whoever ran it stopped renewing (its process died). Record that, then claim again.
    const task = await storage.taskGet(id);
    if (task?.status === "RUNNING") await recoverExpiredTask(storage, runtime.logger, task, now);
    tookOver = true;
  }
  // Still changing under us: never acknowledge, ask to be called again shortly.
  return runningElsewhere(new Date(Date.now() + 1000), new Date());
}

/** Claims of one delivery before it gives up and asks to be called again. */
const MAX_CLAIM_ROUNDS = 4;

function runningElsewhere(lockedUntil: Date, now: Date): ExecuteOutcome {
  const retryAfterSeconds = Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000));
  return { executed: false, reason: "running-elsewhere", status: "RUNNING", lockedUntil, retryAfterSeconds };
}

/** Runs a task a delivery claimed, on its backend, renewing its lease at that backend's delivery rate. */
async function runDelivered(runtime: Runtime, claimed: TaskResultData, claimLeases: LeaseKeeper): Promise<TaskResult> {
  const storage = runtime.storage();
  let backend;
  try {
    backend = runtime.databaseBackend(claimed.backend);
  } catch (error) {
    // Its backend is not configured here: give the task back rather than leave it RUNNING until its lease expires.
    await storage.taskRelease([{ id: claimed.id, attempt: claimed.attempts }]);
    throw error;
  }
  let leases = claimLeases;
  if (backend.deliveryLeaseMs !== undefined && backend.deliveryLeaseMs !== claimLeases.leaseMs) {
    // Its backend holds deliveries for longer or shorter than the claim did: set that lease now, then renew at its pace.
    leases = runtime.leases(backend.deliveryLeaseMs);
    await storage.taskRenewLeases([claimed.id], leases.lockedUntil());
  }
  return runClaimedTask(runtime.runContext(backend, leases), claimed);
}

/**
 * Runs one stored task by id, on its own backend: a READY task, or a FAILED one
 * when `allowRetry`; a task whose process died (lease run out) is taken over.
 * Resolves to null when nothing ran (already SUCCESSFUL, RUNNING under a live
 * lease, or FAILED without allowRetry); `executeTaskById` says which.
 * Throws TaskResultDoesNotExistError for an unknown id.
 */
export async function runTaskById(id: string, options: ExecuteOptions = {}): Promise<TaskResult | null> {
  const outcome = await executeTaskById(id, options);
  return outcome.executed ? outcome.result : null;
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
