import type { Knex } from "knex";
import type { MigrationStatements } from "../migrations/index.ts";
import type { AttemptOutcome, Capabilities, ClaimByIdRequest, ClaimRequest, DialectName, NewTask } from "../storage.ts";

/** How the worker's two hot statements (claim, batched outcomes) may run. */
export interface HotPathOptions {
  /** As named prepared statements, where the dialect can (PostgreSQL). */
  prepared: boolean;
}

/** A row as the driver returns it, before decoding. */
export type RawRow = Record<string, unknown>;

/** What a dialect's locked claim hands the storage: see LockedClaim. */
export interface LockedRows {
  rows: RawRow[];
  /** The claim gave up waiting for a lock (see LOCKED_CLAIM_LOCK_TIMEOUT_MS) and claimed nothing. */
  waitedOnLock?: boolean;
  commit(outcomes: AttemptOutcome[]): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * Everything that differs between databases: value encodings, the claim
 * statements (the hot path), and the DDL. Portable statements are in
 * sql-storage.ts, written once with the knex builder.
 */
export interface Dialect {
  readonly name: DialectName;
  readonly capabilities: Capabilities;
  encodeDate(date: Date): unknown;
  decodeDate(value: unknown): Date | null;
  /** Drivers that parse JSON columns themselves (pg with jsonb) hand back values, the rest strings. */
  readonly driverParsesJson: boolean;
  /** Claims up to `limit` due READY tasks and marks them RUNNING, in one short transaction. `prepared`: see HotPathOptions. */
  claim(knex: Knex, request: ClaimRequest, options: HotPathOptions): Promise<RawRow[]>;
  /**
   * Begins a transaction on a connection of its own, locks up to `limit` due
   * READY tasks with SKIP LOCKED and returns them without writing anything.
   * Absent: the dialect cannot hold claims that way (see LockedClaim).
   */
  claimLocked?(knex: Knex, request: Omit<ClaimRequest, "lockedUntil">, options: HotPathOptions): Promise<LockedRows>;
  /** Claims one task by id if its status is one of `request.statuses`. */
  claimById(knex: Knex, request: ClaimByIdRequest): Promise<RawRow | undefined>;
  /** Writes many attempt outcomes in one statement; returns the ids it updated. Absent: one UPDATE each, in one transaction. */
  finishMany?(knex: Knex, outcomes: AttemptOutcome[], options: HotPathOptions): Promise<Set<string>>;
  /** Calls `onNotify` whenever tasks are inserted (PostgreSQL LISTEN); resolves to a function that stops listening. */
  listen?(knex: Knex, onNotify: () => void, onError: (error: unknown) => void): Promise<() => Promise<void>>;
  /** Inserts new tasks in one statement however many there are; absent: the knex builder, in chunks. */
  insertMany?(knex: Knex | Knex.Transaction, tasks: NewTask[]): Promise<void>;
  /** SQL expression: the worker_ids array without its last element. */
  readonly dropLastWorkerId: string;
  /** Rows per INSERT statement (SQLite caps compound statements at 500 terms). */
  readonly insertChunkSize: number;
  /** The DDL of each migration for this dialect, by migration name (see ../migrations/). */
  readonly migrationStatements: MigrationStatements;
}

/** The order tasks are claimed in, shared by every dialect's claim: highest priority, then longest due. */
export const CLAIM_ORDER = "priority DESC, available_at ASC";
