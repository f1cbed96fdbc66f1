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
  taskClaimById(request: ClaimByIdRequest): Promise<TaskResultData | "missing" | "not-runnable">;
  /** Returns whether the outcome was written (false when the attempt had lost the task). */
  taskFinishAttempt(outcome: AttemptOutcome): Promise<boolean>;
  /** Many outcomes in one round trip where the dialect allows; one boolean per outcome, in order. */
  taskFinishAttempts(outcomes: AttemptOutcome[]): Promise<boolean[]>;
  taskRenewLeases(ids: string[], lockedUntil: Date): Promise<void>;
  /** Records that these tasks were handed to their backend's own delivery (Cloud Tasks). */
  taskMarkDispatched(ids: string[], at: Date): Promise<void>;
  /** READY tasks of `backendName` never handed over, enqueued before `enqueuedBefore`, oldest first. */
  taskListUndispatched(request: { backendName: string; enqueuedBefore: Date; limit: number }): Promise<TaskResultData[]>;
  /** Gives back claimed tasks that never started (a stopping worker's prefetched ones): READY again, as if never claimed. */
  taskRelease(claims: Array<{ id: string; attempt: number }>): Promise<void>;
  /** Puts FAILED tasks back to READY, due now (errors and worker ids are kept as history). Returns the ids it changed. */
  taskRequeueFailed(ids: string[], now: Date): Promise<string[]>;
  /** RUNNING tasks whose lease ran out before `now` (their worker died). */
  taskListExpired(now: Date, limit: number): Promise<TaskResultData[]>;
  taskCountPending(request: PendingCountRequest): Promise<number>;
  /** How many tasks matched, and how many were deleted (0 on a dry run). */
  taskPurge(request: PurgeRequest): Promise<{ count: number; deleted: number }>;
  close(): Promise<void>;
}
