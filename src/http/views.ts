import { TaskResultDoesNotExistError, UnknownBackendError } from "../errors.ts";
import { isUuid } from "../backends/database.ts";
import type { Runtime } from "../runtime.ts";
import type { TaskResult } from "../task/result.ts";
import {
  getPendingTaskCount,
  parsePurgeStatuses,
  processOneTask,
  processTasks,
  purgeCompletedTasks,
  recoverLostTasks,
  runTaskById,
} from "../worker/api.ts";
import { readJsonObject } from "./body.ts";
import { bodyParams, booleanParam, integerParam, nameParam, queryParams, statusListParam } from "./params.ts";
import { HttpError, sendJson } from "./respond.ts";
import type { ViewSpec } from "./view.ts";

/** One task in an answer, in django-database-task's shape (`task_path` is the task's name). */
export interface ResultItem {
  id: string;
  status: string;
  task_path: string;
}

export function resultItem(result: TaskResult): ResultItem {
  return { id: result.id, status: result.status, task_path: result.taskName };
}

export const MAX_TASKS_PER_RUN = 100;
export const MAX_PURGE_BATCH = 10_000;
/** A cutoff further back than this is refused rather than computed (dates before 1926 are out of some columns' range anyway). */
export const MAX_PURGE_DAYS = 36_500;

/**
 * A backend the caller named must exist and keep its tasks in the database.
 * Checked against the configuration's own keys, so names such as
 * "constructor" cannot reach a prototype property.
 */
function requireDatabaseBackend(runtime: Runtime, name: string): void {
  const configured = Object.keys(runtime.backendConfigs);
  if (!Object.hasOwn(runtime.backendConfigs, name)) throw new HttpError(400, new UnknownBackendError(name, configured).message);
  // A configured backend that cannot be built is the server's fault: let it surface as a logged 500.
  runtime.backend(name);
  try {
    runtime.databaseBackend(name);
  } catch {
    throw new HttpError(400, `Backend "${name}" does not keep its tasks in the database, so backend_name cannot name it.`);
  }
}

export const runTasksSpec: ViewSpec = {
  endpoint: "run",
  methods: ["POST"],
  async handle({ req, res, runtime, bodyLimit }) {
    const params = bodyParams(await readJsonObject(req, bodyLimit));
    const maxTasks = integerParam(params, "max_tasks", {
      default: 10,
      min: 1,
      max: MAX_TASKS_PER_RUN,
      invalid: "max_tasks must be a positive integer",
      belowMin: "max_tasks must be a positive integer",
      aboveMax: `max_tasks cannot exceed ${MAX_TASKS_PER_RUN}`,
    });
    const queueName = nameParam(params, "queue_name") ?? null;
    const backendName = nameParam(params, "backend_name") ?? "default";
    requireDatabaseBackend(runtime, backendName);
    const results = await processTasks({ maxTasks, queueName, backendName });
    sendJson(res, 200, { processed: results.length, results: results.map(resultItem) });
  },
};

export const runOneTaskSpec: ViewSpec = {
  endpoint: "run-one",
  methods: ["POST"],
  async handle({ req, res, runtime, bodyLimit }) {
    const params = bodyParams(await readJsonObject(req, bodyLimit));
    const queueName = nameParam(params, "queue_name") ?? null;
    const backendName = nameParam(params, "backend_name") ?? "default";
    requireDatabaseBackend(runtime, backendName);
    const result = await processOneTask({ queueName, backendName });
    sendJson(res, 200, result ? { processed: true, result: resultItem(result) } : { processed: false, result: null });
  },
};

export const taskStatusSpec: ViewSpec = {
  endpoint: "status",
  methods: ["GET", "HEAD"],
  async handle({ req, res, runtime }) {
    const params = queryParams(req);
    const queueName = nameParam(params, "queue_name") ?? null;
    const backendName = nameParam(params, "backend_name") ?? "default";
    requireDatabaseBackend(runtime, backendName);
    sendJson(res, 200, { pending_count: await getPendingTaskCount({ queueName, backendName }) });
  },
};

export const NOT_RUNNABLE_REASON = "Task is not in READY status";

export const executeTaskSpec: ViewSpec = {
  endpoint: "execute",
  methods: ["POST"],
  async handle({ req, res, runtime }) {
    const rawId: unknown = req.params.task_id;
    if (rawId === undefined) throw new Error("executeTaskView must be mounted on a path with a :task_id parameter, e.g. /execute/:task_id");
    if (typeof rawId !== "string" || !isUuid(rawId)) throw new HttpError(400, "task_id must be a UUID");
    // Ids are stored lower-case; text columns (SQLite, MySQL) compare them case-sensitively.
    const id = rawId.toLowerCase();
    const params = queryParams(req);
    const failOnError = booleanParam(params, "fail_on_error", false);
    const allowRetry = booleanParam(params, "allow_retry", false);
    let result: TaskResult | null;
    try {
      result = await runTaskById(id, { allowRetry });
      // A task left RUNNING by a process that died would answer "not READY" for good, and Cloud Tasks
      // stops redelivering on that 200: put tasks whose lease ran out back, then try once more.
      if (!result && (await runtime.storage().taskGet(id))?.status === "RUNNING" && (await recoverLostTasks()) > 0) {
        result = await runTaskById(id, { allowRetry });
      }
    } catch (error) {
      if (error instanceof TaskResultDoesNotExistError) throw new HttpError(404, "Task not found");
      throw error;
    }
    if (!result) {
      const current = await runtime.storage().taskGet(id);
      sendJson(res, 200, { executed: false, reason: NOT_RUNNABLE_REASON, ...(current && { status: current.status }) });
      return;
    }
    // READY after running means the attempt failed and a retry is scheduled: a failure for Cloud Tasks too.
    if (result.status !== "SUCCESSFUL" && failOnError) {
      sendJson(res, 500, { executed: true, failed: true, result: resultItem(result) });
      return;
    }
    sendJson(res, 200, { executed: true, result: resultItem(result) });
  },
};

export const purgeTasksSpec: ViewSpec = {
  endpoint: "purge",
  // Not HEAD: a HEAD request (a link checker's) must not delete anything.
  methods: ["GET", "POST"],
  async handle({ req, res, runtime, bodyLimit }) {
    const params = req.method === "GET" ? queryParams(req) : bodyParams(await readJsonObject(req, bodyLimit));
    const days = integerParam(params, "days", {
      default: 0,
      min: 0,
      max: MAX_PURGE_DAYS,
      invalid: "days must be an integer",
      belowMin: "days must be a non-negative integer",
      aboveMax: `days cannot exceed ${MAX_PURGE_DAYS}`,
    });
    const statuses = parsePurgeStatuses(statusListParam(params, "status", "SUCCESSFUL,FAILED"));
    if (statuses.length === 0) throw new HttpError(400, "No valid statuses specified");
    const batchSize = integerParam(params, "batch_size", {
      default: 1000,
      min: 1,
      max: MAX_PURGE_BATCH,
      invalid: "batch_size must be an integer",
      belowMin: "batch_size must be a positive integer",
      aboveMax: `batch_size cannot exceed ${MAX_PURGE_BATCH}`,
    });
    const dryRun = booleanParam(params, "dry_run", false);
    const backendName = nameParam(params, "backend_name") ?? null;
    if (backendName !== null) requireDatabaseBackend(runtime, backendName);
    const purged = await purgeCompletedTasks({ days, statuses, batchSize, dryRun, backendName });
    sendJson(res, 200, dryRun ? { count: purged.count, dry_run: true } : { deleted: purged.deleted, dry_run: false });
  },
};
