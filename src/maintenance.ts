import { isMaintainedBackend, type DeliveryMaintenance } from "./backends/backend.ts";
import { ConfigError, errorMessage, InvalidTaskError, UnknownBackendError } from "./errors.ts";
import { getRuntime, type Runtime } from "./runtime.ts";
import { recoverExpiredTasks } from "./worker/run.ts";

export interface MaintenanceOptions {
  /** Only this backend's deliveries (lease recovery covers every backend's tasks). Default: every backend. */
  backendName?: string | null;
  /** Tasks per step and backend. Default 500. */
  limit?: number;
  /** No new step starts after this long (ms); a step under way finishes. Default 20 s. */
  timeBudgetMs?: number;
}

export interface MaintenanceSummary {
  /** RUNNING tasks whose lease had run out (their process died), put back to READY (or FAILED after 3 losses). */
  recovered: number;
  /** What each backend with a delivery of its own (Cloud Tasks) did. */
  backends: Record<string, DeliveryMaintenance>;
  /** False when the limit or the time budget cut the pass short: call again. */
  complete: boolean;
  elapsedMs: number;
}

export const DEFAULT_MAINTENANCE_LIMIT = 500;
export const MAX_MAINTENANCE_LIMIT = 10_000;
export const DEFAULT_MAINTENANCE_BUDGET_MS = 20_000;

/**
 * The maintenance pass: makes sure every READY task eventually reaches a
 * runner when nothing else would. It recovers expired leases (a process died
 * running the task) and, for each backend that delivers its tasks itself
 * (Cloud Tasks), hands over the tasks never handed over and re-creates the
 * deliveries that were given up on. Bounded (`limit`, `timeBudgetMs`),
 * idempotent, and safe to run from many processes at once.
 *
 * Workers recover leases on their own; what needs this is a deployment with
 * no process always running: call it from Cloud Scheduler or App Engine cron
 * (POST /tasks/maintain/), `database-task maintain`, or let `serve` run it on
 * a timer when its instances stay up.
 */
export async function maintainTasks(options: MaintenanceOptions = {}): Promise<MaintenanceSummary> {
  const started = Date.now();
  const limit = options.limit ?? DEFAULT_MAINTENANCE_LIMIT;
  const budget = options.timeBudgetMs ?? DEFAULT_MAINTENANCE_BUDGET_MS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_MAINTENANCE_LIMIT) {
    throw new InvalidTaskError(`limit must be a whole number from 1 to ${MAX_MAINTENANCE_LIMIT}; got ${limit}.`);
  }
  if (typeof budget !== "number" || !(budget > 0)) throw new InvalidTaskError(`timeBudgetMs must be a number of milliseconds > 0; got ${budget}.`);
  const deadline = started + budget;
  const runtime = await getRuntime();
  const names = backendsToMaintain(runtime, options.backendName ?? null);

  let recovered = 0;
  let complete = true;
  for (;;) {
    const batch = await recoverExpiredTasks(runtime.storage(), runtime.logger, new Date(), limit);
    recovered += batch;
    if (batch < limit) break;
    if (Date.now() >= deadline) {
      complete = false;
      break;
    }
  }

  const backends: Record<string, DeliveryMaintenance> = {};
  for (const name of names) {
    const backend = runtime.backend(name);
    if (!isMaintainedBackend(backend)) continue;
    if (Date.now() >= deadline) {
      complete = false;
      break;
    }
    backends[name] = await backend.maintain({ limit, deadline });
    complete &&= backends[name].complete;
  }
  return { recovered, backends, complete, elapsedMs: Date.now() - started };
}

function backendsToMaintain(runtime: Runtime, only: string | null): string[] {
  const configured = Object.keys(runtime.backendConfigs);
  if (only === null) return configured;
  if (!Object.hasOwn(runtime.backendConfigs, only)) throw new UnknownBackendError(only, configured);
  if (!isMaintainedBackend(runtime.backend(only))) {
    throw new ConfigError(`Backend "${only}" has no delivery of its own to maintain (only "cloudtasks" backends do); leave the backend out to recover expired leases alone.`);
  }
  return [only];
}

/** Whether any configured backend delivers its tasks itself, so that a maintenance pass has more to do than recover leases. */
export function hasMaintainedBackends(runtime: Runtime): boolean {
  return Object.keys(runtime.backendConfigs).some((name) => isMaintainedBackend(runtime.backend(name)));
}

/** How often the slice on deliveries may run in one process. */
const SLICE_EVERY_MS = 30_000;
const SLICE = { limit: 20, timeBudgetMs: 2_000 } as const;
const lastSliceAt = new WeakMap<Runtime, number>();

/**
 * A small maintenance pass, at most every 30 s per process, for the execute
 * endpoint to run beside the task it was called for: on a platform that gives
 * CPU only during requests (Cloud Run, App Engine scaled to zero), the traffic
 * itself keeps the queue whole between scheduled passes. Resolves to null when
 * it is not time yet; never rejects (a failure is logged).
 */
export function maintenanceSlice(runtime: Runtime): Promise<MaintenanceSummary | null> {
  const now = Date.now();
  if (now - (lastSliceAt.get(runtime) ?? 0) < SLICE_EVERY_MS) return Promise.resolve(null);
  lastSliceAt.set(runtime, now);
  return maintainTasks(SLICE).then(
    (summary) => {
      logIfAnything(runtime, summary, "Maintenance slice");
      return summary;
    },
    (error: unknown) => {
      runtime.logger.warn("Maintenance slice failed; the next pass tries again", { error: errorMessage(error) });
      return null;
    },
  );
}

/**
 * Runs the maintenance pass every so often in this process (for `serve` and
 * handler instances that stay up): the shortest `maintenanceIntervalMs` among
 * the backends with deliveries of their own, none when there are none.
 * Returns a stop function.
 */
export function startMaintenanceTimer(runtime: Runtime): () => void {
  const intervals = Object.keys(runtime.backendConfigs)
    .map((name) => runtime.backend(name))
    .flatMap((backend) => (isMaintainedBackend(backend) ? [backend.maintenanceIntervalMs] : []));
  if (intervals.length === 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return; // a slow pass (Cloud Tasks slow to answer) is not stacked
    running = true;
    maintainTasks()
      .then(
        (summary) => logIfAnything(runtime, summary, "Maintenance pass"),
        (error: unknown) => runtime.logger.warn("Maintenance pass failed; will try again", { error: errorMessage(error) }),
      )
      .finally(() => (running = false));
  }, Math.min(...intervals));
  timer.unref();
  return () => clearInterval(timer);
}

function logIfAnything(runtime: Runtime, summary: MaintenanceSummary, what: string): void {
  const acted = Object.values(summary.backends).some((b) => b.dispatched + b.recreated + b.failed + b.errors > 0);
  if (summary.recovered > 0 || acted) runtime.logger.info(what, { recovered: summary.recovered, backends: summary.backends });
}
