import { isMaintainedBackend } from "../backends/backend.ts";
import { TaskResultDoesNotExistError, UnknownBackendError } from "../errors.ts";
import { isUuid } from "../backends/database.ts";
import {
  DEFAULT_MAINTENANCE_BUDGET_MS,
  DEFAULT_MAINTENANCE_LIMIT,
  MAX_MAINTENANCE_LIMIT,
  maintainTasks,
  maintenanceSlice,
} from "../maintenance.ts";
import type { Runtime } from "../runtime.ts";
import type { TaskResult } from "../task/result.ts";
import {
  executeTaskById,
  getPendingTaskCount,
  type ExecuteOutcome,
  parsePurgeStatuses,
  processOneTask,
  processTasks,
  purgeCompletedTasks,
} from "../worker/api.ts";
import { isAppEngineCron } from "./auth.ts";
import { readJsonObject } from "./body.ts";
import type { Request } from "express";
import { bodyParams, booleanParam, integerParam, nameParam, onlyParams, queryParams, statusListParam, type Params } from "./params.ts";
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
    const params = await postParams(req, bodyLimit, ["max_tasks", "queue_name", "backend_name"]);
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
    const params = await postParams(req, bodyLimit, ["queue_name", "backend_name"]);
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
    onlyParams(params, ["queue_name", "backend_name"]);
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
    // backend_name is accepted and ignored, as documented: django-database-task's callers send it.
    onlyParams(params, ["fail_on_error", "allow_retry", "backend_name"]);
    const failOnError = booleanParam(params, "fail_on_error", false);
    const allowRetry = booleanParam(params, "allow_retry", false);
    // A small maintenance pass beside the task, now and then: where CPU is given only during
    // requests, deliveries are what keeps the rest of the queue whole between scheduled passes.
    const slice = maintenanceSlice(runtime);
    let outcome: ExecuteOutcome;
    try {
      outcome = await executeTaskById(id, { allowRetry });
    } catch (error) {
      if (error instanceof TaskResultDoesNotExistError) throw new HttpError(404, "Task not found");
      throw error;
    } finally {
      await slice;
    }
    if (!outcome.executed) {
      if (outcome.reason === "running-elsewhere" && failOnError) {
        // Not 2xx: Cloud Tasks would delete its task although nothing ran, and if the holder has died
        // nothing would ever deliver it again. 409, not 503: Cloud Tasks slows the whole queue down on 503.
        sendJson(
          res,
          409,
          {
            executed: false,
            reason: `Task is RUNNING under a lease held until ${outcome.lockedUntil.toISOString()}; try again after it`,
            status: "RUNNING",
            retry_after_seconds: outcome.retryAfterSeconds,
          },
          { "Retry-After": String(outcome.retryAfterSeconds) },
        );
        return;
      }
      sendJson(res, 200, { executed: false, reason: NOT_RUNNABLE_REASON, status: outcome.status });
      return;
    }
    const result = outcome.result;
    // READY after running means the attempt failed and a retry is scheduled: a failure for Cloud Tasks too.
    if (result.status !== "SUCCESSFUL" && failOnError) {
      sendJson(res, 500, { executed: true, failed: true, result: resultItem(result) });
      return;
    }
    sendJson(res, 200, { executed: true, result: resultItem(result) });
  },
};

const MAINTAIN_PARAMS = ["backend_name", "limit", "time_budget_seconds"] as const;
export const MAX_MAINTENANCE_BUDGET_SECONDS = 300;

export const maintainTasksSpec: ViewSpec = {
  endpoint: "maintain",
  // GET only for App Engine cron, which can send nothing else (cronOrPostParams).
  methods: ["GET", "POST"],
  async handle({ req, res, runtime, bodyLimit }) {
    const params = await cronOrPostParams(req, bodyLimit, MAINTAIN_PARAMS);
    const limit = integerParam(params, "limit", {
      default: DEFAULT_MAINTENANCE_LIMIT,
      min: 1,
      max: MAX_MAINTENANCE_LIMIT,
      invalid: "limit must be an integer",
      belowMin: "limit must be a positive integer",
      aboveMax: `limit cannot exceed ${MAX_MAINTENANCE_LIMIT}`,
    });
    const budgetSeconds = integerParam(params, "time_budget_seconds", {
      default: DEFAULT_MAINTENANCE_BUDGET_MS / 1000,
      min: 1,
      max: MAX_MAINTENANCE_BUDGET_SECONDS,
      invalid: "time_budget_seconds must be an integer",
      belowMin: "time_budget_seconds must be a positive integer",
      aboveMax: `time_budget_seconds cannot exceed ${MAX_MAINTENANCE_BUDGET_SECONDS}`,
    });
    const backendName = nameParam(params, "backend_name") ?? null;
    if (backendName !== null) {
      if (!Object.hasOwn(runtime.backendConfigs, backendName)) {
        throw new HttpError(400, new UnknownBackendError(backendName, Object.keys(runtime.backendConfigs)).message);
      }
      if (!isMaintainedBackend(runtime.backend(backendName))) {
        throw new HttpError(400, `Backend "${backendName}" has no delivery of its own to maintain (only "cloudtasks" backends do); leave backend_name out.`);
      }
    }
    const summary = await maintainTasks({ backendName, limit, timeBudgetMs: budgetSeconds * 1000 });
    sendJson(res, 200, { recovered: summary.recovered, backends: summary.backends, complete: summary.complete, elapsed_ms: summary.elapsedMs });
  },
};

const PURGE_PARAMS = ["days", "status", "batch_size", "dry_run", "backend_name"] as const;

/**
 * A POST's parameters: its JSON body, holding only `known` names. Parameters in
 * the query string are refused, not ignored: `?dry_run=true` on a POST must not
 * delete as if it were absent.
 */
async function postParams(req: Request, bodyLimit: number, known: readonly string[]): Promise<Params> {
  const inQuery = queryParams(req).names();
  if (inQuery.length > 0) {
    throw new HttpError(400, `Parameters of a POST go in its JSON body, not the query string; got "${inQuery[0].slice(0, 100)}" in the query string`);
  }
  const params = bodyParams(await readJsonObject(req, bodyLimit));
  onlyParams(params, known);
  return params;
}

/**
 * The parameters of an endpoint App Engine cron may call: its GET's query
 * string, since cron sends nothing else; any other GET is refused (405), so a
 * link or an <img> changes nothing. Otherwise the POST's JSON body.
 */
async function cronOrPostParams(req: Request, bodyLimit: number, known: readonly string[]): Promise<Params> {
  if (req.method !== "GET") return postParams(req, bodyLimit, known);
  if (!isAppEngineCron(req)) throw new HttpError(405, "Method not allowed: use POST (GET is accepted only from App Engine cron)", { Allow: "POST" });
  const params = queryParams(req);
  onlyParams(params, known);
  return params;
}

export const purgeTasksSpec: ViewSpec = {
  endpoint: "purge",
  // Not HEAD: a HEAD request (a link checker's) must not delete anything.
  // GET only for App Engine cron, which can send nothing else (cronOrPostParams).
  methods: ["GET", "POST"],
  async handle({ req, res, runtime, bodyLimit }) {
    const params = await cronOrPostParams(req, bodyLimit, PURGE_PARAMS);
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
