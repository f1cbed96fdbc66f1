import { TASK_STATUSES, type TaskStatus } from "../../task/result.ts";
import { ACTIONS } from "../actions.ts";
import { html, type SafeHtml } from "../html.ts";
import { listQuery, returnField, type ListState } from "../params.ts";
import type { TaskPage, TaskRow } from "../queries.ts";
import { formatCount, formatTime, shortId, shortTaskName } from "./format.ts";
import { layout, statusBadge, type PageContext } from "./layout.ts";

export interface ListView {
  state: ListState;
  page: TaskPage;
  counts: Record<TaskStatus, number>;
  queues: string[];
  backends: string[];
  /** Tasks matching the filters, or null when a search makes it unknown. */
  total: number | null;
  /** When the counts were taken, if earlier than this page (a large table's counts are reused briefly). */
  countsAsOf: Date | null;
}

function statCards(ctx: PageContext, view: ListView): SafeHtml {
  const { filter } = view.state;
  const all = Object.values(view.counts).reduce((a, b) => a + b, 0);
  const card = (status: TaskStatus | null, label: string, count: number) => {
    const active = filter.status === status;
    const href = `${ctx.base}/${listQuery({ ...filter, status })}`;
    return html`<a class="stat stat-${status?.toLowerCase() ?? "all"}${active ? " active" : ""}" href="${href}"${active ? html` aria-current="true"` : ""}>
      <span class="stat-label">${label}</span><span class="stat-value">${formatCount(count)}</span></a>`;
  };
  const scope = [filter.queue !== null ? `queue “${filter.queue}”` : "", filter.backend !== null ? `backend “${filter.backend}”` : ""].filter(Boolean);
  const notes = [
    scope.length ? `Counts for ${scope.join(" and ")}.` : "",
    view.countsAsOf ? `Counts as of ${formatTime(view.countsAsOf, ctx.timeZone)}: on a table this large they are refreshed every few seconds.` : "",
  ].filter(Boolean);
  return html`<section class="stats" aria-label="Tasks per status">
    ${card(null, "All tasks", all)}
    ${TASK_STATUSES.map((s) => card(s, s, view.counts[s]))}
  </section>
  ${notes.length ? html`<p class="stats-scope">${notes.join(" ")}</p>` : ""}`;
}

function options(values: readonly string[], selected: string | null, allLabel: string): SafeHtml {
  const list = selected !== null && !values.includes(selected) ? [...values, selected] : values;
  return html`<option value=""${selected === null ? html` selected` : ""}>${allLabel}</option>
    ${list.map((v) => html`<option value="${v}"${v === selected ? html` selected` : ""}>${v}</option>`)}`;
}

function filterBar(ctx: PageContext, view: ListView): SafeHtml {
  const { filter } = view.state;
  const filtered = filter.status !== null || filter.queue !== null || filter.backend !== null || filter.search !== null;
  return html`<form class="filters" method="get" action="${ctx.base}/" role="search">
    <label class="field field-search"><span>Search</span>
      <input type="search" name="q" value="${filter.search ?? ""}" placeholder="Task id or name" maxlength="255" autocomplete="off"></label>
    <label class="field"><span>Status</span>
      <select name="status" data-autosubmit>${options(TASK_STATUSES, filter.status, "All statuses")}</select></label>
    <label class="field"><span>Queue</span>
      <select name="queue" data-autosubmit>${options(view.queues, filter.queue, "All queues")}</select></label>
    <label class="field"><span>Backend</span>
      <select name="backend" data-autosubmit>${options(view.backends, filter.backend, "All backends")}</select></label>
    <div class="filter-buttons">
      <button type="submit" class="button button-primary">Apply</button>
      ${filtered ? html`<a class="button button-ghost" href="${ctx.base}/">Reset</a>` : ""}
    </div>
  </form>`;
}

function time(ctx: PageContext, date: Date | null): SafeHtml {
  if (!date) return html`<span class="muted">–</span>`;
  return html`<time datetime="${date.toISOString()}">${formatTime(date, ctx.timeZone)}</time>`;
}

function row(ctx: PageContext, task: TaskRow): SafeHtml {
  const href = `${ctx.base}/tasks/${task.id}`;
  return html`<tr>
    <td class="check"><input type="checkbox" name="ids" value="${task.id}" aria-label="Select task ${task.id}"></td>
    <td class="id"><a href="${href}" title="${task.id}">${shortId(task.id)}</a></td>
    <td class="name"><a href="${href}" title="${task.taskName}">${shortTaskName(task.taskName)}</a></td>
    <td>${statusBadge(task.status)}</td>
    <td>${task.queueName}</td>
    <td>${task.backend}</td>
    <td class="num">${task.priority}</td>
    <td class="time">${time(ctx, task.enqueuedAt)}</td>
    <td class="time">${time(ctx, task.startedAt)}</td>
    <td class="time">${time(ctx, task.finishedAt)}</td>
    <td class="num">${task.attempts}<span class="muted">/${task.maxAttempts}</span></td>
  </tr>`;
}

function pager(ctx: PageContext, view: ListView): SafeHtml {
  const { filter } = view.state;
  const { newer, older } = view.page;
  if (newer === null && older === null) return html``;
  const link = (enabled: boolean, href: string, label: string, rel = "") =>
    enabled ? html`<a class="button" href="${href}"${rel ? html` rel="${rel}"` : ""}>${label}</a>` : html`<span class="button disabled" aria-disabled="true">${label}</span>`;
  return html`<nav class="pager" aria-label="Pages">
    ${link(newer !== null, `${ctx.base}/${listQuery(filter)}`, "« Newest")}
    ${link(newer !== null, `${ctx.base}/${listQuery(filter, { newer })}`, "‹ Newer", "prev")}
    ${link(older !== null, `${ctx.base}/${listQuery(filter, { older })}`, "Older ›", "next")}
  </nav>`;
}

function resultCount(view: ListView): string {
  const shown = view.page.rows.length;
  if (view.total === null) return `${formatCount(shown)} matching task${shown === 1 ? "" : "s"} on this page`;
  return `${formatCount(view.total)} task${view.total === 1 ? "" : "s"}`;
}

export function renderList(ctx: PageContext, view: ListView): SafeHtml {
  const rows = view.page.rows;
  const body = html`
<div class="page-head"><h1>Tasks</h1><span class="result-count">${resultCount(view)}</span></div>
${statCards(ctx, view)}
${filterBar(ctx, view)}
<form class="results" method="post" action="${ctx.base}/actions">
  <input type="hidden" name="_csrf" value="${ctx.csrfToken}">
  <input type="hidden" name="return" value="${returnField(view.state)}">
  <div class="actionbar">
    <button type="submit" name="action" value="run" class="button" data-needs-selection>${ACTIONS.run}</button>
    <button type="submit" name="action" value="retry" class="button" data-needs-selection>${ACTIONS.retry}</button>
    <span class="selection-count" id="selection-count" aria-live="polite"></span>
  </div>
  <div class="table-wrap">
  <table class="tasks">
    <thead><tr>
      <th class="check"><input type="checkbox" id="select-all" aria-label="Select all tasks on this page"></th>
      <th>ID</th><th>Task</th><th>Status</th><th>Queue</th><th>Backend</th><th class="num">Priority</th>
      <th>Enqueued</th><th>Started</th><th>Finished</th><th class="num">Attempts</th>
    </tr></thead>
    <tbody>
    ${rows.length ? rows.map((t) => row(ctx, t)) : html`<tr><td class="empty" colspan="11">No tasks match these filters.</td></tr>`}
    </tbody>
  </table>
  </div>
</form>
${pager(ctx, view)}`;
  return layout(ctx, "Tasks", body);
}
