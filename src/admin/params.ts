/**
 * The list page's state lives in its URL (filters, search, page position),
 * so every view can be bookmarked, reloaded and returned to after an action.
 */
import { isUuid } from "../backends/database.ts";
import { TASK_STATUSES, type TaskStatus } from "../task/result.ts";
import type { Cursor, TaskFilter } from "./queries.ts";

export interface ListState {
  filter: TaskFilter;
  older: Cursor | null;
  newer: Cursor | null;
}

// Longer than any stored name (the columns are varchar(255)); a longer value could match nothing.
const MAX_TEXT = 255;

type QueryValue = unknown;

function first(value: QueryValue): string | null {
  const text = Array.isArray(value) ? value[0] : value;
  return typeof text === "string" ? text : null;
}

function text(value: QueryValue, { trim }: { trim: boolean }): string | null {
  const raw = first(value);
  if (raw === null) return null;
  const cleaned = trim ? raw.trim() : raw;
  return cleaned === "" || cleaned.length > MAX_TEXT ? null : cleaned;
}

function status(value: QueryValue): TaskStatus | null {
  const raw = first(value)?.trim().toUpperCase();
  return TASK_STATUSES.find((s) => s === raw) ?? null;
}

export function encodeCursor(cursor: Cursor): string {
  return cursor.id;
}

/** A malformed cursor is ignored (the first page is shown) rather than refused: it can only come from an edited URL. */
export function decodeCursor(value: QueryValue): Cursor | null {
  const id = first(value) ?? "";
  return isUuid(id) ? { id: id.toLowerCase() } : null;
}

export function parseListQuery(query: Record<string, QueryValue>): ListState {
  const older = decodeCursor(query.older);
  return {
    filter: {
      status: status(query.status),
      // Queue and backend names are matched exactly, spaces included.
      queue: text(query.queue, { trim: false }),
      backend: text(query.backend, { trim: false }),
      search: text(query.q, { trim: true }),
    },
    older,
    newer: older ? null : decodeCursor(query.newer),
  };
}

/** The query string ("" or "?...") for a list view; filters only unless a page position is given. */
export function listQuery(filter: Partial<TaskFilter>, position: { older?: Cursor | null; newer?: Cursor | null } = {}): string {
  const params = new URLSearchParams();
  if (filter.status) params.set("status", filter.status);
  if (filter.queue != null) params.set("queue", filter.queue);
  if (filter.backend != null) params.set("backend", filter.backend);
  if (filter.search) params.set("q", filter.search);
  if (position.older) params.set("older", encodeCursor(position.older));
  else if (position.newer) params.set("newer", encodeCursor(position.newer));
  const qs = params.toString();
  return qs ? `?${qs}` : "";
}

/** What a form's `return` field holds: a list view's query string, or "task:<id>" for a detail page. */
export function returnField(state: ListState | { taskId: string }): string {
  if ("taskId" in state) return `task:${state.taskId}`;
  return listQuery(state.filter, state).replace(/^\?/, "");
}

/**
 * Where to send the browser after an action. Rebuilt from parsed parameters,
 * never echoed: the field cannot redirect anywhere but this admin.
 */
export function returnLocation(base: string, value: QueryValue): string {
  const raw = first(value) ?? "";
  const taskId = /^task:(.+)$/.exec(raw)?.[1];
  if (taskId !== undefined) return isUuid(taskId) ? `${base}/tasks/${taskId.toLowerCase()}` : `${base}/`;
  const state = parseListQuery(Object.fromEntries(new URLSearchParams(raw)));
  return `${base}/${listQuery(state.filter, state)}`;
}
