/**
 * The admin's read-only statements, written with the knex builder; user input
 * only ever travels as bindings. The one difference between databases that
 * matters here is how a time is bound (SQLite stores integer milliseconds).
 */
import type { Knex } from "knex";
import { isUuid } from "../backends/database.ts";
import type { SqlStorage } from "../storage/sql-storage.ts";
import { TASK_TABLE } from "../storage/storage.ts";
import type { TaskResultData, TaskStatus } from "../task/result.ts";

export interface TaskFilter {
  status: TaskStatus | null;
  queue: string | null;
  backend: string | null;
  search: string | null;
}

/**
 * A position in the newest-first order: a row's id. Ids are UUIDv7 stamped
 * with the enqueue millisecond, so id order is enqueue order.
 */
export interface Cursor {
  id: string;
}

export type TaskRow = Pick<
  TaskResultData,
  "id" | "taskName" | "status" | "queueName" | "backend" | "priority" | "runAfter" | "enqueuedAt" | "startedAt" | "finishedAt" | "attempts" | "maxAttempts"
>;

export interface PageRequest {
  filter: TaskFilter;
  limit: number;
  /** Rows older than this (the next page down); the newest rows when neither cursor is given. */
  older?: Cursor | null;
  /** Rows newer than this (the page above). */
  newer?: Cursor | null;
}

export interface TaskPage {
  rows: TaskRow[];
  /** Where the page above starts, or null on the first page. */
  newer: Cursor | null;
  /** Where the page below starts, or null on the last page. */
  older: Cursor | null;
}

export interface SummaryGroup {
  status: TaskStatus;
  queue: string;
  backend: string;
  count: number;
}

// The list never reads args, return values or errors: they can be large, and only the detail page shows them.
const LIST_COLUMNS = [
  "id",
  "task_name",
  "status",
  "queue_name",
  "backend_name",
  "priority",
  "run_after",
  "enqueued_at",
  "started_at",
  "finished_at",
  "attempts",
  "max_attempts",
];

export type SearchPlan =
  | { kind: "id"; id: string }
  | { kind: "idPart"; low: string; high: string; end: string; name: string | null }
  | { kind: "name"; name: string };

const HEX_WITH_HYPHENS = /^[0-9a-f-]+$/i;
/** The list shows this many characters of an id; a prefix this long is taken for an id, not part of a name. */
export const SHORT_ID_LENGTH = 8;

function uuidShape(hex32: string): string {
  return `${hex32.slice(0, 8)}-${hex32.slice(8, 12)}-${hex32.slice(12, 16)}-${hex32.slice(16, 20)}-${hex32.slice(20)}`;
}

/**
 * What a search box entry means: a whole task id; the start of an id (served
 * by the primary key as a range, since the id column is uuid on PostgreSQL
 * and LIKE cannot use it there) or its end (what the list shows: the start of
 * a UUIDv7 is its enqueue time, shared by every task of the same minute); or
 * part of a task name, case-insensitive. A short hex word ("add", "feed")
 * could be any of these, so it is tried as all.
 */
export function planSearch(text: string): SearchPlan {
  const lower = text.trim().toLowerCase();
  if (isUuid(lower)) return { kind: "id", id: lower };
  const hex = lower.replace(/-/g, "");
  if (HEX_WITH_HYPHENS.test(lower) && hex.length > 0 && hex.length <= 32) {
    if (hex.length === 32) return { kind: "id", id: uuidShape(hex) };
    const range = { low: uuidShape(hex.padEnd(32, "0")), high: uuidShape(hex.padEnd(32, "f")) };
    return { kind: "idPart", ...range, end: lower, name: hex.length >= SHORT_ID_LENGTH ? null : lower };
  }
  return { kind: "name", name: lower };
}

function likeContains(text: string): string {
  return `%${text.replace(/[!%_]/g, (ch) => `!${ch}`)}%`;
}

function whereNameContains(query: Knex.QueryBuilder, name: string, or = false): void {
  // '!' as the escape character: it means the same on every dialect, unlike the backslash.
  const bindings = ["task_name", likeContains(name)];
  if (or) query.orWhereRaw("LOWER(??) LIKE ? ESCAPE '!'", bindings);
  else query.whereRaw("LOWER(??) LIKE ? ESCAPE '!'", bindings);
}

function applySearch(query: Knex.QueryBuilder, text: string): void {
  const plan = planSearch(text);
  if (plan.kind === "id") {
    query.where("id", plan.id);
  } else if (plan.kind === "idPart") {
    query.where((q) => {
      q.where((range) => range.where("id", ">=", plan.low).andWhere("id", "<=", plan.high));
      q.orWhereRaw("CAST(?? AS CHAR(36)) LIKE ?", ["id", `%${plan.end}`]);
      if (plan.name !== null) whereNameContains(q, plan.name, true);
    });
  } else {
    whereNameContains(query, plan.name);
  }
}

function applyFilter(query: Knex.QueryBuilder, filter: Omit<TaskFilter, "search"> & { search?: string | null }): Knex.QueryBuilder {
  if (filter.status) query.where("status", filter.status);
  if (filter.queue !== null) query.where("queue_name", filter.queue);
  if (filter.backend !== null) query.where("backend_name", filter.backend);
  if (filter.search) applySearch(query, filter.search);
  return query;
}

function toRow(storage: SqlStorage, raw: Record<string, unknown>): TaskRow {
  const d = storage.decode(raw);
  return {
    id: d.id,
    taskName: d.taskName,
    status: d.status,
    queueName: d.queueName,
    backend: d.backend,
    priority: d.priority,
    runAfter: d.runAfter,
    enqueuedAt: d.enqueuedAt,
    startedAt: d.startedAt,
    finishedAt: d.finishedAt,
    attempts: d.attempts,
    maxAttempts: d.maxAttempts,
  };
}

function cursorOf(row: TaskRow): Cursor {
  return { id: row.id };
}

/**
 * One page, newest first, by keyset on the id (UUIDv7: enqueue time first,
 * then random bits, so tasks of one enqueueMany call keep a fixed order): each
 * page starts where the previous one ended, on the primary key, so page
 * 20,000 costs what page 1 does.
 */
export async function listTaskPage(storage: SqlStorage, request: PageRequest): Promise<TaskPage> {
  const { filter, limit } = request;
  const goingNewer = !!request.newer;
  const cursor = request.newer ?? request.older ?? null;
  const query = applyFilter(storage.knex(TASK_TABLE).select(LIST_COLUMNS), filter);
  if (cursor) query.andWhere("id", goingNewer ? ">" : "<", cursor.id);
  query.orderBy("id", goingNewer ? "asc" : "desc");
  const raw = (await query.limit(limit + 1)) as Record<string, unknown>[];
  const more = raw.length > limit;
  const rows = raw.slice(0, limit).map((r) => toRow(storage, r));
  if (goingNewer) {
    // Reached the top: the first page is fuller than a short page above the cursor.
    if (!more) return listTaskPage(storage, { filter, limit });
    rows.reverse();
    return { rows, newer: cursorOf(rows[0]), older: cursorOf(rows[rows.length - 1]) };
  }
  return {
    rows,
    newer: cursor ? (rows.length > 0 ? cursorOf(rows[0]) : cursor) : null,
    older: more ? cursorOf(rows[rows.length - 1]) : null,
  };
}

/**
 * Task counts by status, queue and backend, in one pass over the table. The
 * status counts at the top, the queue and backend choices and the filtered
 * totals are all sums over these few groups.
 */
export async function taskSummary(storage: SqlStorage): Promise<SummaryGroup[]> {
  const rows = (await storage
    .knex(TASK_TABLE)
    .select("status", "queue_name", "backend_name")
    .count({ n: "*" })
    .groupBy("status", "queue_name", "backend_name")) as Record<string, unknown>[];
  return rows.map((r) => ({
    status: r.status as TaskStatus,
    queue: String(r.queue_name),
    backend: String(r.backend_name),
    count: Number(r.n),
  }));
}

export async function getTask(storage: SqlStorage, id: string): Promise<TaskResultData | null> {
  if (!isUuid(id)) return null;
  return (await storage.taskGet(id.toLowerCase())) ?? null;
}

export interface SelectedTask {
  id: string;
  status: TaskStatus;
  backend: string;
}

/** The current status and backend of the tasks an action was asked to act on (unknown ids are absent). */
export async function selectedTasks(storage: SqlStorage, ids: string[]): Promise<SelectedTask[]> {
  const valid = ids.filter(isUuid).map((id) => id.toLowerCase());
  if (valid.length === 0) return [];
  const rows = (await storage.knex(TASK_TABLE).whereIn("id", valid).select("id", "status", "backend_name")) as Record<string, unknown>[];
  return rows.map((r) => ({ id: String(r.id), status: r.status as TaskStatus, backend: String(r.backend_name) }));
}
