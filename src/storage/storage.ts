import type { Knex } from "knex";
import type { JsonValue } from "../task/json.ts";
import type { TaskError, TaskResultData, TaskStatus } from "../task/result.ts";

export const TASK_TABLE = "database_task";

export type DialectName = "postgres" | "mysql" | "sqlite";

/** What a dialect can do; the rest of the code asks these, never the database's name. */
export interface Capabilities {
  /** SELECT ... FOR UPDATE SKIP LOCKED */
  skipLocked: boolean;
  /** UPDATE ... RETURNING */
  updateReturning: boolean;
  /** LISTEN / NOTIFY wake-ups */
  listenNotify: boolean;
  /** Claims held as row locks in an open transaction (`claimMode: "lock"`) */
  lockedClaims: boolean;
}

export interface NewTask {
  id: string;
  taskName: string;
  queueName: string;
  backendName: string;
  priority: number;
  args: JsonValue[];
  runAfter: Date | null;
  enqueuedAt: Date;
  maxAttempts: number;
}

export interface ClaimRequest {
  backendName: string;
  queueName?: string | null;
  limit: number;
  workerId: string;
  now: Date;
  lockedUntil: Date;
}

export interface ClaimByIdRequest {
  id: string;
  /** READY always; FAILED too when retrying is allowed. */
  statuses: TaskStatus[];
  workerId: string;
  now: Date;
  lockedUntil: Date;
}

/** The end of one attempt. Applied only while the attempt still holds the task. */
export interface AttemptOutcome {
  id: string;
  attempt: number;
  status: "SUCCESSFUL" | "FAILED" | "READY";
  returnValue: JsonValue | null;
  /** The task's errors after this attempt; null when the attempt added none (they stay as stored). */
  errors: TaskError[] | null;
  finishedAt: Date | null;
  /** For READY (a retry): when it may run again. */
  availableAt: Date | null;
  /** When the attempt started; written only by a locked claim's commit (a lease claim wrote it when claiming). */
  startedAt?: Date | null;
  /** Only if the lease ran out before this time (recovering a lost attempt). */
  leaseExpiredBefore?: Date;
}

/**
 * Tasks claimed with `claimMode: "lock"`: row locks held by an open
 * transaction, nothing written yet. The tasks look claimed (RUNNING, their
 * attempt counted, this worker's id added), but in the table they stay READY
 * until `commit` writes every outcome and ends the transaction. If the
 * transaction ends any other way (`rollback`, a lost connection, a dead
 * process), the tasks are simply READY again for the next worker.
 */
export interface LockedClaim {
  tasks: TaskResultData[];
  /** Nothing was claimed because the claim waited too long for a lock another transaction held. */
  waitedOnLock?: boolean;
  /** Writes these outcomes (each with `startedAt`, the attempt's start) and commits; tasks left out stay READY, untouched. */
  commit(outcomes: AttemptOutcome[]): Promise<void>;
  /** Ends the transaction without writing anything: every task stays READY. */
  rollback(): Promise<void>;
}

/** What a backend that delivers tasks itself (Cloud Tasks) needs of a task to hand it over. */
export interface DispatchItem {
  id: string;
  queueName: string;
  /** When the task is due: the Cloud Task's schedule time. */
  availableAt: Date;
  /** How many times its Cloud Task was created anew (part of the Cloud Task's name). */
  generation: number;
}

/** Why a task could not be claimed by id: its status, and its lease if it is RUNNING. */
export interface NotClaimed {
  status: TaskStatus;
  /** Until when the attempt that holds the task may run without renewing (RUNNING only). */
  lockedUntil: Date | null;
}

export interface PurgeRequest {
  statuses: TaskStatus[];
  finishedBefore: Date | null;
  backendName?: string | null;
  batchSize: number;
  dryRun: boolean;
  onCount?: (total: number) => void;
  onBatch?: (deletedSoFar: number, total: number) => void;
}

export interface PendingCountRequest {
  backendName: string;
  queueName?: string | null;
  now: Date;
}

/**
 * The only door to the database. Statements live in the implementation
 * (`sql-storage.ts`) and the dialect files; nothing else writes SQL.
 */
export interface Storage {
  readonly dialect: DialectName;
  readonly capabilities: Capabilities;
  readonly knex: Knex;
  migrate(): Promise<string[]>;
  taskInsertMany(tasks: NewTask[], transaction?: Knex.Transaction | null): Promise<void>;
  taskGet(id: string): Promise<TaskResultData | undefined>;
  taskClaim(request: ClaimRequest): Promise<TaskResultData[]>;
  /** Claims with row locks held in an open transaction (`claimMode: "lock"`; only where `capabilities.lockedClaims`). */
  taskClaimLocked(request: Omit<ClaimRequest, "lockedUntil">): Promise<LockedClaim>;
  /** The claimed task, or why it could not be claimed. */
  taskClaimById(request: ClaimByIdRequest): Promise<TaskResultData | "missing" | NotClaimed>;
  /** Returns whether the outcome was written (false when the attempt had lost the task). */
  taskFinishAttempt(outcome: AttemptOutcome): Promise<boolean>;
  /** Many outcomes in one round trip where the dialect allows; one boolean per outcome, in order. */
  taskFinishAttempts(outcomes: AttemptOutcome[]): Promise<boolean[]>;
  taskRenewLeases(ids: string[], lockedUntil: Date): Promise<void>;
  /**
   * Records that these tasks were handed to (or found held by) their backend's own
   * delivery (Cloud Tasks): `dispatched_at = at`, for rows still in that generation.
   */
  taskMarkDispatched(items: Array<Pick<DispatchItem, "id" | "generation">>, at: Date): Promise<void>;
  /**
   * READY tasks of `backendName` never handed over (or whose new generation was not yet),
   * enqueued before `enqueuedBefore` and due before `availableBefore`, oldest first;
   * with `ids`, only those.
   */
  taskListUndispatched(request: { backendName: string; enqueuedBefore: Date; availableBefore: Date; limit: number; ids?: string[] }): Promise<DispatchItem[]>;
  /** READY tasks of `backendName` handed over before `dispatchedBefore` and due before `availableBefore`: their hand-over may have been lost. */
  taskListStaleDispatches(request: { backendName: string; dispatchedBefore: Date; availableBefore: Date; limit: number }): Promise<DispatchItem[]>;
  /**
   * Starts a new generation for a READY task whose Cloud Task is gone: generation + 1,
   * not dispatched. Only if it is still READY in `item.generation`, so of many
   * callers one wins. Returns whether it did.
   */
  taskNextDispatchGeneration(item: Pick<DispatchItem, "id" | "generation">): Promise<boolean>;
  /** Marks a READY task in `generation` FAILED with these errors (its delivery was given up on). Returns whether it did. */
  taskFailUndelivered(request: { id: string; generation: number; errors: TaskError[]; finishedAt: Date }): Promise<boolean>;
  /** Gives back claimed tasks that never started (a stopping worker's prefetched ones): READY again, as if never claimed. */
  taskRelease(claims: Array<{ id: string; attempt: number }>): Promise<void>;
  /**
   * Puts FAILED tasks back to READY, due now (errors and worker ids are kept as history),
   * not dispatched, in a new dispatch generation. Returns the ids it changed.
   */
  taskRequeueFailed(ids: string[], now: Date): Promise<string[]>;
  /** RUNNING tasks whose lease ran out before `now` (their worker died). */
  taskListExpired(now: Date, limit: number): Promise<TaskResultData[]>;
  taskCountPending(request: PendingCountRequest): Promise<number>;
  /** How many tasks matched, and how many were deleted (0 on a dry run). */
  taskPurge(request: PurgeRequest): Promise<{ count: number; deleted: number }>;
  close(): Promise<void>;
}
