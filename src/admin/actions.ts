/**
 * The two bulk actions of django-database-task's admin, with its outcome
 * messages word for word. Tasks run one after another in this (web)
 * process, as there; a backend that delivers tasks itself (Cloud Tasks)
 * gets its failed tasks back to dispatch instead.
 */
import type { Backend, TaskRedispatcher } from "../backends/backend.ts";
import { describeError, errorMessage } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import { runTaskById } from "../worker/api.ts";
import type { Flash } from "./flash.ts";
import { selectedTasks, type SelectedTask } from "./queries.ts";

export const ACTIONS = {
  run: "Run selected tasks",
  retry: "Retry failed tasks",
} as const;
export type ActionName = keyof typeof ACTIONS;

export const RUN_WORKER_ID = "admin";
export const RETRY_WORKER_ID = "admin-retry";

function isRedispatcher(backend: Backend): backend is Backend & TaskRedispatcher {
  return "retryFailed" in backend && typeof (backend as Partial<TaskRedispatcher>).retryFailed === "function";
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A message from its non-zero parts, as django-database-task words it; "" when every part is zero. */
function sentence(lead: string, parts: Array<[number, string]>): string {
  const shown = parts.filter(([n]) => n > 0).map(([n, text]) => `${n} ${text}`);
  return shown.length > 0 ? `${lead}: ${shown.join(", ")}.` : "";
}

function joinSentences(sentences: string[]): string {
  return sentences.filter((s) => s !== "").join(" ");
}

type Outcome = "succeeded" | "failed" | "skipped";

async function runOne(runtime: Runtime, id: string, options: { allowRetry: boolean; workerId: string }): Promise<Outcome> {
  try {
    const result = await runTaskById(id, options);
    // null: another worker claimed it, or it changed status, since it was selected.
    if (result === null) return "skipped";
    return result.status === "SUCCESSFUL" ? "succeeded" : "failed";
  } catch (error) {
    runtime.logger.error("Admin action could not run a task", { taskId: id, error: describeError(error) });
    return "failed";
  }
}

/**
 * Tasks whose backend this process cannot run are left alone rather than
 * claimed: runTaskById would mark them RUNNING and then fail to find the
 * backend, stranding them until their lease ran out.
 */
function runnableHere(runtime: Runtime, task: SelectedTask): boolean {
  try {
    runtime.databaseBackend(task.backend);
    return true;
  } catch {
    return false;
  }
}

function unavailableNote(count: number): string {
  return count > 0 ? `${plural(count, "task")} left alone: ${count === 1 ? "its backend is" : "their backends are"} not configured in this process.` : "";
}

/** "Run selected tasks": READY ones run now, under worker id "admin". */
export async function runSelectedTasks(runtime: Runtime, ids: string[]): Promise<Flash> {
  const selected = await selectedTasks(runtime.storage(), ids);
  const ready = selected.filter((t) => t.status === "READY");
  if (ready.length === 0) return { level: "warning", text: "No tasks in READY status were selected." };
  const counts = { succeeded: 0, failed: 0, skipped: ids.length - ready.length, unavailable: 0 };
  for (const task of ready) {
    if (!runnableHere(runtime, task)) counts.unavailable++;
    else counts[await runOne(runtime, task.id, { allowRetry: false, workerId: RUN_WORKER_ID })]++;
  }
  const parts: Array<[number, string]> = [
    [counts.succeeded, "succeeded"],
    [counts.failed, "failed"],
    [counts.skipped, "skipped (not READY)"],
  ];
  return {
    level: counts.failed > 0 || counts.unavailable > 0 ? "warning" : "success",
    text: joinSentences([sentence("Task execution completed", parts), unavailableNote(counts.unavailable)]),
  };
}

function redispatchLabel(runtime: Runtime, backendName: string): string {
  return runtime.backendConfigs[backendName]?.backend === "cloudtasks" ? "Cloud Tasks" : `backend "${backendName}"`;
}

/**
 * "Retry failed tasks": FAILED ones go back to READY and run again, here
 * under worker id "admin-retry", or through their backend's own delivery
 * when it redispatches (so a Cloud Tasks task runs where Cloud Tasks sends it).
 */
export async function retryFailedTasks(runtime: Runtime, ids: string[]): Promise<Flash> {
  const selected = await selectedTasks(runtime.storage(), ids);
  const failed = selected.filter((t) => t.status === "FAILED");
  if (failed.length === 0) return { level: "warning", text: "No tasks in FAILED status were selected." };
  const counts = { succeeded: 0, failedAgain: 0, skipped: ids.length - failed.length, unavailable: 0 };
  const redispatched = new Map<string, number>();
  const dispatchErrors: string[] = [];

  const byBackend = new Map<string, SelectedTask[]>();
  for (const task of failed) byBackend.set(task.backend, [...(byBackend.get(task.backend) ?? []), task]);
  for (const [backendName, tasks] of byBackend) {
    let backend: Backend | null = null;
    try {
      backend = runtime.backend(backendName);
    } catch {
      counts.unavailable += tasks.length;
      continue;
    }
    if (isRedispatcher(backend)) {
      const label = redispatchLabel(runtime, backendName);
      try {
        const requeued = await backend.retryFailed(tasks.map((t) => t.id));
        redispatched.set(label, (redispatched.get(label) ?? 0) + requeued.length);
        counts.skipped += tasks.length - requeued.length;
      } catch (error) {
        runtime.logger.error("Admin retry could not re-dispatch tasks", { backend: backendName, error: describeError(error) });
        dispatchErrors.push(`${plural(tasks.length, "task")} could not be re-dispatched to ${label}: ${errorMessage(error)}`);
      }
      continue;
    }
    for (const task of tasks) {
      if (!runnableHere(runtime, task)) {
        counts.unavailable++;
        continue;
      }
      const outcome = await runOne(runtime, task.id, { allowRetry: true, workerId: RETRY_WORKER_ID });
      if (outcome === "succeeded") counts.succeeded++;
      else if (outcome === "failed") counts.failedAgain++;
      else counts.skipped++;
    }
  }

  const parts: Array<[number, string]> = [
    ...[...redispatched].map(([label, n]): [number, string] => [n, `re-dispatched to ${label}`]),
    [counts.succeeded, "succeeded"],
    [counts.failedAgain, "failed again"],
    [counts.skipped, "skipped (not FAILED)"],
  ];
  const anyPart = parts.some(([n]) => n > 0);
  const text = joinSentences([sentence("Retry completed", parts), ...dispatchErrors.map((e) => `${e}.`), unavailableNote(counts.unavailable)]);
  const troubled = counts.failedAgain > 0 || counts.unavailable > 0 || dispatchErrors.length > 0;
  return { level: dispatchErrors.length > 0 && !anyPart ? "error" : troubled ? "warning" : "success", text };
}

/** `ids` as posted; repeats are counted once, unknown ids count as skipped. */
export async function performAction(runtime: Runtime, action: ActionName, ids: string[]): Promise<Flash> {
  ids = [...new Set(ids.map((id) => id.toLowerCase()))];
  return action === "run" ? runSelectedTasks(runtime, ids) : retryFailedTasks(runtime, ids);
}
