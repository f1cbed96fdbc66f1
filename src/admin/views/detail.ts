import type { TaskError, TaskResultData } from "../../task/result.ts";
import { ACTIONS } from "../actions.ts";
import { html, type SafeHtml } from "../html.ts";
import { returnField } from "../params.ts";
import { formatDuration, formatTime, prettyJson, shortId } from "./format.ts";
import { layout, statusBadge, type PageContext } from "./layout.ts";

function time(ctx: PageContext, date: Date | null): SafeHtml {
  if (!date) return html`<span class="muted">–</span>`;
  return html`<time datetime="${date.toISOString()}">${formatTime(date, ctx.timeZone, { millis: true })}</time>`;
}

function field(label: string, value: unknown): SafeHtml {
  return html`<div class="field-row"><dt>${label}</dt><dd>${value}</dd></div>`;
}

function actionForm(ctx: PageContext, task: TaskResultData): SafeHtml {
  const action = task.status === "READY" ? "run" : task.status === "FAILED" ? "retry" : null;
  if (!action) return html``;
  const label = action === "run" ? "Run now" : "Retry";
  return html`<form method="post" action="${ctx.base}/actions" class="inline-form">
    <input type="hidden" name="_csrf" value="${ctx.csrfToken}">
    <input type="hidden" name="return" value="${returnField({ taskId: task.id })}">
    <input type="hidden" name="ids" value="${task.id}">
    <button type="submit" name="action" value="${action}" class="button button-primary" title="${ACTIONS[action]}">${label}</button>
  </form>`;
}

function errorCard(error: TaskError, index: number, total: number): SafeHtml {
  return html`<article class="error">
    <header><span class="error-index">${index + 1}/${total}</span><span class="error-class">${error.errorClass}</span><span class="error-message">${error.message}</span></header>
    <pre class="stack">${error.stack}</pre>
  </article>`;
}

function runtimeText(task: TaskResultData): string | null {
  if (!task.finishedAt || !task.lastAttemptedAt) return null;
  return formatDuration(task.finishedAt.getTime() - task.lastAttemptedAt.getTime());
}

export function renderDetail(ctx: PageContext, task: TaskResultData): SafeHtml {
  const duration = runtimeText(task);
  const body = html`
<nav class="breadcrumbs"><a href="${ctx.base}/">Tasks</a><span aria-hidden="true">›</span><span class="mono">${shortId(task.id)}</span></nav>
<div class="detail-head">
  <div>
    <h1 class="task-name">${task.taskName}</h1>
    <p class="detail-sub">${statusBadge(task.status)}<span class="mono">${task.id}</span></p>
  </div>
  ${actionForm(ctx, task)}
</div>
<div class="grid">
  <section class="card">
    <h2>Task</h2>
    <dl class="fields">
      ${field("ID", html`<span class="mono">${task.id}</span>`)}
      ${field("Task", html`<span class="mono">${task.taskName}</span>`)}
      ${field("Status", statusBadge(task.status))}
      ${field("Queue", task.queueName)}
      ${field("Backend", task.backend)}
      ${field("Priority", task.priority)}
      ${field("Attempts", `${task.attempts} of ${task.maxAttempts}`)}
    </dl>
  </section>
  <section class="card">
    <h2>Timeline</h2>
    <dl class="fields">
      ${field("Run after", time(ctx, task.runAfter))}
      ${field("Enqueued", time(ctx, task.enqueuedAt))}
      ${field("Started", time(ctx, task.startedAt))}
      ${field("Last attempt", time(ctx, task.lastAttemptedAt))}
      ${field("Finished", time(ctx, task.finishedAt))}
      ${field("Last attempt took", duration ?? html`<span class="muted">–</span>`)}
    </dl>
  </section>
</div>
<section class="card">
  <h2>Arguments</h2>
  <pre class="json">${prettyJson(task.args)}</pre>
</section>
<section class="card">
  <h2>Return value</h2>
  ${task.status === "SUCCESSFUL" ? html`<pre class="json">${prettyJson(task.returnValue)}</pre>` : html`<p class="muted">None: the task has not succeeded${task.status === "FAILED" ? "" : " yet"}.</p>`}
</section>
<section class="card">
  <h2>Errors <span class="count">${task.errors.length}</span></h2>
  ${task.errors.length ? task.errors.map((e, i) => errorCard(e, i, task.errors.length)) : html`<p class="muted">No attempt has failed.</p>`}
</section>
<section class="card">
  <h2>Workers <span class="count">${task.workerIds.length}</span></h2>
  ${task.workerIds.length
    ? html`<ol class="workers">${task.workerIds.map((w, i) => html`<li><span class="muted">Attempt ${i + 1}</span><span class="mono">${w}</span></li>`)}</ol>`
    : html`<p class="muted">No worker has picked this task up.</p>`}
</section>`;
  return layout(ctx, `Task ${shortId(task.id)}`, body);
}

export function renderNotFound(ctx: PageContext, id: string): SafeHtml {
  const body = html`
<nav class="breadcrumbs"><a href="${ctx.base}/">Tasks</a></nav>
<div class="card empty-card"><h1>Task not found</h1><p>No task has the id <span class="mono">${id}</span>. It may have been purged.</p>
<p><a class="button" href="${ctx.base}/">Back to the task list</a></p></div>`;
  return layout(ctx, "Task not found", body);
}
