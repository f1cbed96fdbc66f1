import { describeError } from "../errors.ts";
import type { Knex } from "knex";
import type { JsonValue } from "../task/json.ts";
import type { TaskError, TaskResultData, TaskStatus } from "../task/result.ts";
import type { Dialect, HotPathOptions, RawRow } from "./dialects/dialect.ts";
import { runMigrations } from "./migrate.ts";
import {
  TASK_TABLE,
  type AttemptOutcome,
  type ClaimByIdRequest,
  type ClaimRequest,
  type DispatchItem,
  type LockedClaim,
  type NotClaimed,
  type NewTask,
  type PendingCountRequest,
  type PurgeRequest,
  type Storage,
} from "./storage.ts";


/** Storage over knex: portable statements here, the claim and encodings in the dialect. */
export class SqlStorage implements Storage {
  readonly knex: Knex;
  readonly #dialect: Dialect;
  readonly #ownsKnex: boolean;
  readonly #hotPath: HotPathOptions;

  constructor(knex: Knex, dialect: Dialect, options: { ownsKnex: boolean; preparedStatements?: boolean }) {
    this.knex = knex;
    this.#dialect = dialect;
    this.#ownsKnex = options.ownsKnex;
    this.#hotPath = { prepared: options.preparedStatements ?? true };
  }

  get dialect() {
    return this.#dialect.name;
  }

  get capabilities() {
    return this.#dialect.capabilities;
  }

  migrate(): Promise<string[]> {
    return runMigrations(this.knex, this.#dialect);
  }

  /**
   * Calls `onNotify` whenever tasks are inserted, where the database can push
   * (PostgreSQL; a no-op elsewhere), and once as soon as it listens: tasks that
   * arrived before that are not missed. Returns a stop function at once; the
   * connection is made in the background (and remade if lost), so a worker
   * starts claiming without waiting for it.
   */
  listenForInserts(onNotify: () => void, logger: { warn(message: string, meta?: Record<string, unknown>): void }): () => Promise<void> {
    const listen = this.#dialect.listen;
    if (!listen) return async () => {};
    let stop: (() => Promise<void>) | null = null;
    let stopped = false;
    let retryTimer: NodeJS.Timeout | null = null;
    const connect = async (delayMs: number): Promise<void> => {
      if (stopped) return;
      try {
        const unlisten = await listen(this.knex, onNotify, (error) => {
          logger.warn("Lost the LISTEN connection; polling until it is back", { error: describeError(error) });
          const lost = stop;
          stop = null;
          void lost?.();
          retryTimer = setTimeout(() => void connect(1000), 1000);
          retryTimer.unref();
        });
        if (stopped) return await unlisten();
        stop = unlisten;
        onNotify(); // tasks may have arrived while we were not listening
      } catch {
        retryTimer = setTimeout(() => void connect(Math.min(delayMs * 2, 30_000)), delayMs);
        retryTimer.unref();
      }
    };
    const connecting = connect(1000);
    return async () => {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      await connecting;
      await stop?.();
      stop = null;
    };
  }

  async taskInsertMany(tasks: NewTask[], transaction?: Knex.Transaction | null): Promise<void> {
    const d = this.#dialect;
    if (d.insertMany) {
      await d.insertMany(transaction ?? this.knex, tasks);
      return;
    }
    const rows = tasks.map((t) => ({
      id: t.id,
      task_name: t.taskName,
      queue_name: t.queueName,
      backend_name: t.backendName,
      priority: t.priority,
      status: "READY",
      args: JSON.stringify(t.args),
      errors: "[]",
      worker_ids: "[]",
      attempts: 0,
      max_attempts: t.maxAttempts,
      run_after: t.runAfter ? d.encodeDate(t.runAfter) : null,
      available_at: d.encodeDate(t.runAfter ?? t.enqueuedAt),
      enqueued_at: d.encodeDate(t.enqueuedAt),
    }));
    const chunk = d.insertChunkSize;
    const insert = async (db: Knex | Knex.Transaction) => {
      for (let i = 0; i < rows.length; i += chunk) {
        await db(TASK_TABLE).insert(rows.slice(i, i + chunk));
      }
    };
    if (transaction) await insert(transaction);
    else if (rows.length > chunk) await this.knex.transaction(insert);
    else await insert(this.knex);
  }

  async taskGet(id: string): Promise<TaskResultData | undefined> {
    const row = await this.knex(TASK_TABLE).where({ id }).first();
    return row ? this.decode(row) : undefined;
  }

  async taskClaim(request: ClaimRequest): Promise<TaskResultData[]> {
    const rows = await this.#dialect.claim(this.knex, request, this.#hotPath);
    return rows.map((row) => this.#decodeClaimed(row)).sort(byClaimOrder);
  }

  async taskClaimLocked(request: Omit<ClaimRequest, "lockedUntil">): Promise<LockedClaim> {
    const claimLocked = this.#dialect.claimLocked;
    if (!claimLocked) throw new Error(`The ${this.dialect} dialect cannot hold claims in a transaction (capabilities.lockedClaims is false)`);
    const { rows, commit, rollback, waitedOnLock } = await claimLocked(this.knex, request, this.#hotPath);
    // A SELECT hands its rows back in its ORDER BY (an UPDATE ... RETURNING does not): no sort.
    return { tasks: rows.map((row) => this.#decodeClaimed(row)), commit, rollback, waitedOnLock };
  }

  async taskClaimById(request: ClaimByIdRequest): Promise<TaskResultData | "missing" | NotClaimed> {
    const row = await this.#dialect.claimById(this.knex, request);
    if (row) return this.#decodeClaimed(row);
    const current: RawRow | undefined = await this.knex(TASK_TABLE).where({ id: request.id }).first("status", "locked_until");
    if (!current) return "missing";
    return { status: current.status as TaskStatus, lockedUntil: this.#dialect.decodeDate(current.locked_until) };
  }

  taskFinishAttempt(outcome: AttemptOutcome): Promise<boolean> {
    return this.#finish(this.knex, outcome);
  }

  async #finish(db: Knex | Knex.Transaction, outcome: AttemptOutcome): Promise<boolean> {
    const d = this.#dialect;
    const changes: Record<string, unknown> = {
      status: outcome.status,
      return_value: outcome.returnValue === null ? null : JSON.stringify(outcome.returnValue),
      finished_at: outcome.finishedAt ? d.encodeDate(outcome.finishedAt) : null,
      locked_until: null,
    };
    if (outcome.errors) changes.errors = JSON.stringify(outcome.errors);
    if (outcome.availableAt) changes.available_at = d.encodeDate(outcome.availableAt);
    const query = db(TASK_TABLE).where({ id: outcome.id, status: "RUNNING", attempts: outcome.attempt });
    if (outcome.leaseExpiredBefore) query.andWhere("locked_until", "<", d.encodeDate(outcome.leaseExpiredBefore) as Knex.Value);
    const updated = await query.update(changes);
    return Number(updated) === 1;
  }

  async taskFinishAttempts(outcomes: AttemptOutcome[]): Promise<boolean[]> {
    if (outcomes.length === 0) return [];
    if (outcomes.length === 1) return [await this.taskFinishAttempt(outcomes[0])];
    const finishMany = this.#dialect.finishMany;
    if (finishMany) {
      const written = await finishMany(this.knex, outcomes, this.#hotPath);
      return outcomes.map((o) => written.has(o.id));
    }
    // One transaction: on SQLite one fsync for the batch instead of one per task.
    return this.knex.transaction(async (trx) => {
      const results: boolean[] = [];
      for (const outcome of outcomes) results.push(await this.#finish(trx, outcome));
      return results;
    });
  }

  async taskRenewLeases(ids: string[], lockedUntil: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.knex(TASK_TABLE)
      .whereIn("id", ids)
      .andWhere({ status: "RUNNING" })
      .update({ locked_until: this.#dialect.encodeDate(lockedUntil) });
  }

  async taskMarkDispatched(items: Array<Pick<DispatchItem, "id" | "generation">>, at: Date): Promise<void> {
    // One UPDATE per generation (nearly always one: fresh tasks are all in generation 0).
    const byGeneration = new Map<number, string[]>();
    for (const { id, generation } of items) byGeneration.set(generation, [...(byGeneration.get(generation) ?? []), id]);
    for (const [generation, ids] of byGeneration) {
      await this.knex(TASK_TABLE)
        .whereIn("id", ids)
        .andWhere({ dispatch_generation: generation })
        .update({ dispatched_at: this.#dialect.encodeDate(at) });
    }
  }

  async taskListUndispatched({ backendName, enqueuedBefore, availableBefore, limit, ids }: {
    backendName: string;
    enqueuedBefore: Date;
    availableBefore: Date;
    limit: number;
    ids?: string[];
  }): Promise<DispatchItem[]> {
    const d = this.#dialect;
    const query = this.knex(TASK_TABLE)
      .where({ backend_name: backendName, status: "READY" })
      .whereNull("dispatched_at")
      .andWhere("enqueued_at", "<", d.encodeDate(enqueuedBefore) as Knex.Value)
      .andWhere("available_at", "<", d.encodeDate(availableBefore) as Knex.Value);
    if (ids) query.whereIn("id", ids);
    const rows = await query.orderBy("enqueued_at").limit(limit).select(DISPATCH_COLUMNS);
    return rows.map((row: RawRow) => this.#decodeDispatch(row));
  }

  async taskListStaleDispatches({ backendName, dispatchedBefore, availableBefore, limit }: {
    backendName: string;
    dispatchedBefore: Date;
    availableBefore: Date;
    limit: number;
  }): Promise<DispatchItem[]> {
    const d = this.#dialect;
    // Served by the claim index (READY rows of a backend, by due time); dispatched_at is checked on the rows it finds.
    const rows = await this.knex(TASK_TABLE)
      .where({ backend_name: backendName, status: "READY" })
      .andWhere("available_at", "<", d.encodeDate(availableBefore) as Knex.Value)
      .andWhere("dispatched_at", "<", d.encodeDate(dispatchedBefore) as Knex.Value)
      .orderBy("available_at")
      .limit(limit)
      .select(DISPATCH_COLUMNS);
    return rows.map((row: RawRow) => this.#decodeDispatch(row));
  }

  async taskNextDispatchGeneration({ id, generation }: Pick<DispatchItem, "id" | "generation">): Promise<boolean> {
    const updated = await this.knex(TASK_TABLE)
      .where({ id, status: "READY", dispatch_generation: generation })
      .update({ dispatch_generation: generation + 1, dispatched_at: null });
    return Number(updated) === 1;
  }

  async taskFailUndelivered({ id, generation, errors, finishedAt }: { id: string; generation: number; errors: TaskError[]; finishedAt: Date }): Promise<boolean> {
    const updated = await this.knex(TASK_TABLE)
      .where({ id, status: "READY", dispatch_generation: generation })
      .update({ status: "FAILED", errors: JSON.stringify(errors), finished_at: this.#dialect.encodeDate(finishedAt), return_value: null });
    return Number(updated) === 1;
  }

  async taskRelease(claims: Array<{ id: string; attempt: number }>): Promise<void> {
    for (const { id, attempt } of claims) {
      // Column order matters on MySQL, which evaluates SET left to right: attempts changes last.
      await this.knex(TASK_TABLE)
        .where({ id, status: "RUNNING", attempts: attempt })
        .update({
          started_at: this.knex.raw("CASE WHEN attempts = 1 THEN NULL ELSE started_at END"),
          worker_ids: this.knex.raw(this.#dialect.dropLastWorkerId),
          status: "READY",
          locked_until: null,
          attempts: this.knex.raw("attempts - 1"),
        });
    }
  }

  async taskRequeueFailed(ids: string[], now: Date): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.knex.transaction(async (trx) => {
      const failed = (await trx(TASK_TABLE).whereIn("id", ids).andWhere({ status: "FAILED" }).select("id")).map(
        (row: RawRow) => row.id as string,
      );
      if (failed.length === 0) return [];
      await trx(TASK_TABLE)
        .whereIn("id", failed)
        .andWhere({ status: "FAILED" })
        .update({
          status: "READY",
          finished_at: null,
          return_value: null,
          dispatched_at: null,
          // A new Cloud Task name: the old one may still be in Cloud Tasks' deduplication window.
          dispatch_generation: this.knex.raw("dispatch_generation + 1"),
          available_at: this.#dialect.encodeDate(now),
        });
      return failed;
    });
  }

  async taskListExpired(now: Date, limit: number): Promise<TaskResultData[]> {
    const rows = await this.knex(TASK_TABLE)
      .where({ status: "RUNNING" })
      .andWhere("locked_until", "<", this.#dialect.encodeDate(now) as Knex.Value)
      .orderBy("locked_until")
      .limit(limit);
    return rows.map((row: RawRow) => this.decode(row));
  }

  async taskCountPending({ backendName, queueName, now }: PendingCountRequest): Promise<number> {
    const query = this.knex(TASK_TABLE)
      .where({ status: "READY", backend_name: backendName })
      .andWhere("available_at", "<=", this.#dialect.encodeDate(now) as Knex.Value);
    if (queueName) query.andWhere({ queue_name: queueName });
    const row = (await query.count({ n: "*" }).first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  async taskPurge({ statuses, finishedBefore, backendName, batchSize, dryRun, onCount, onBatch }: PurgeRequest): Promise<{ count: number; deleted: number }> {
    const matching = () => {
      const query = this.knex(TASK_TABLE).whereIn("status", statuses);
      if (finishedBefore) query.andWhere("finished_at", "<", this.#dialect.encodeDate(finishedBefore) as Knex.Value);
      if (backendName) query.andWhere({ backend_name: backendName });
      return query;
    };
    const countRow = (await matching().count({ n: "*" }).first()) as { n: number | string } | undefined;
    const total = Number(countRow?.n ?? 0);
    onCount?.(total);
    if (dryRun || total === 0) return { count: total, deleted: 0 };
    // Batches keep each DELETE short, so workers claiming meanwhile are not blocked
    // for long. They walk the primary key (ids are UUIDv7: enqueue order) from
    // where the last one stopped, so each batch reads on, never from the start.
    let deleted = 0;
    let after: string | null = null;
    for (;;) {
      const batch = matching().select("id").orderBy("id").limit(batchSize);
      if (after !== null) batch.andWhere("id", ">", after);
      const ids = (await batch).map((row: RawRow) => String(row.id));
      if (ids.length === 0) break;
      after = ids[ids.length - 1];
      deleted += Number(await this.knex(TASK_TABLE).whereIn("id", ids).whereIn("status", statuses).delete());
      onBatch?.(deleted, total);
      if (ids.length < batchSize) break;
    }
    return { count: total, deleted };
  }

  async close(): Promise<void> {
    if (this.#ownsKnex) await this.knex.destroy();
  }

  #decodeDispatch(row: RawRow): DispatchItem {
    return {
      id: String(row.id),
      queueName: row.queue_name as string,
      availableAt: this.#dialect.decodeDate(row.available_at) as Date,
      generation: Number(row.dispatch_generation),
    };
  }

  /** A row a claim just marked RUNNING; the claim fixed status, finished_at and return_value, so a dialect need not send them back. */
  #decodeClaimed(row: RawRow): TaskResultData {
    const task = this.decode(row);
    task.status = "RUNNING";
    task.finishedAt = null;
    task.returnValue = null;
    return task;
  }

  decode(row: RawRow): TaskResultData {
    const d = this.#dialect;
    const json = d.driverParsesJson ? asJson : parseJson;
    return {
      id: String(row.id),
      taskName: row.task_name as string,
      status: row.status as TaskStatus,
      args: json(row.args) as JsonValue[],
      queueName: row.queue_name as string,
      priority: Number(row.priority),
      backend: row.backend_name as string,
      runAfter: d.decodeDate(row.run_after),
      enqueuedAt: d.decodeDate(row.enqueued_at) as Date,
      startedAt: d.decodeDate(row.started_at),
      lastAttemptedAt: d.decodeDate(row.last_attempted_at),
      finishedAt: d.decodeDate(row.finished_at),
      attempts: Number(row.attempts),
      maxAttempts: Number(row.max_attempts),
      workerIds: json(row.worker_ids) as string[],
      returnValue: json(row.return_value),
      errors: json(row.errors) as unknown as TaskError[],
    };
  }
}

const DISPATCH_COLUMNS = ["id", "queue_name", "available_at", "dispatch_generation"];

/** A JSON column as a driver that parses JSON hands it over; and as text the others hand over. */
const asJson = (value: unknown): JsonValue => (value ?? null) as JsonValue;
const parseJson = (value: unknown): JsonValue => (value == null ? null : typeof value === "string" ? JSON.parse(value) : (value as JsonValue));

function byClaimOrder(a: TaskResultData, b: TaskResultData): number {
  return (
    b.priority - a.priority ||
    (a.runAfter ?? a.enqueuedAt).getTime() - (b.runAfter ?? b.enqueuedAt).getTime() ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) // ids are UUIDv7: enqueue order within a millisecond too
  );
}
