import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DatabaseConfig } from "../storage/connect.ts";
import type { Backend, BackendContext } from "../backends/backend.ts";

export type BuiltInBackend = "database" | "immediate" | "dummy" | "cloudtasks";

/** One entry of `backends`, like one entry of Django's TASKS setting. */
export interface BackendConfig {
  /** Which implementation: a built-in name, or a factory for your own backend. */
  backend: BuiltInBackend | ((context: BackendContext) => Backend);
  /** Queue names this backend accepts; empty (the default) accepts any. */
  queues?: string[];
  /** Backend-specific options (the Cloud Tasks backend's project, location, ...). */
  options?: Record<string, unknown>;
}

export interface WorkerSettings {
  /** Tasks run at once by one worker process. Default 1. */
  concurrency?: number;
  /** Seconds between polls when the queue is empty. Default 5. */
  interval?: number;
  /** Seconds a claimed task is reserved for its worker; renewed while it runs. Default 300. */
  leaseSeconds?: number;
  /** Tasks claimed ahead of free slots, so one claim serves several tasks (throughput for short tasks). Default 0. */
  prefetch?: number;
  /**
   * PostgreSQL: run the worker's claim and outcome statements as named prepared
   * statements (parsed once per connection, planned afresh each run). Default
   * true on connections this package opens, false on a knex instance you pass
   * in; set false behind a transaction-mode pooler such as PgBouncer.
   */
  preparedStatements?: boolean;
  /**
   * How a worker holds the tasks it claims. "lease" (default): the claim marks
   * them RUNNING with a lease, renewed while they run. "lock" (PostgreSQL):
   * the claim only locks the rows, in a transaction that stays open until the
   * batch's last outcome is written; one write per task instead of two, for
   * many short tasks. See "Claim modes" in the README.
   */
  claimMode?: ClaimMode;
}

export type ClaimMode = "lease" | "lock";
export const CLAIM_MODES: readonly ClaimMode[] = ["lease", "lock"];

/** `value` if it is a claim mode; else a ConfigError naming where it came from (`name`). */
export function checkClaimMode(value: unknown, name: string): ClaimMode {
  if (!CLAIM_MODES.includes(value as ClaimMode)) throw new ConfigError(`${name} must be "lease" or "lock"; got ${JSON.stringify(value)}.`);
  return value as ClaimMode;
}

export interface DatabaseTaskConfig {
  /** A URL (postgres://, mysql://, mariadb://, sqlite://), a knex config, or a knex instance. `DATABASE_URL` wins when set. */
  database?: DatabaseConfig;
  /** Named backends. Default: `{ default: { backend: "database" } }`. */
  backends?: Record<string, BackendConfig>;
  /** Modules that define tasks (paths relative to the config file, or package names), imported by workers and the handler. */
  tasks?: string[];
  worker?: WorkerSettings;
  logger?: Logger;
}

/** Identity function that gives a config file its types. */
export function defineConfig(config: DatabaseTaskConfig): DatabaseTaskConfig {
  return config;
}

const TOP_LEVEL_KEYS = ["database", "backends", "tasks", "worker", "logger"];
const BACKEND_KEYS = ["backend", "queues", "options"];
const WORKER_KEYS = ["concurrency", "interval", "leaseSeconds", "prefetch", "preparedStatements", "claimMode"];
const BUILT_IN_BACKENDS: BuiltInBackend[] = ["database", "immediate", "dummy", "cloudtasks"];

function closest(word: string, candidates: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) dp[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return dp[a.length][b.length];
  };
  const best = candidates.map((c) => [c, distance(word.toLowerCase(), c.toLowerCase())] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(word.length / 3)) ? best[0] : undefined;
}

function checkKeys(object: object, known: string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      const guess = closest(key, known);
      throw new ConfigError(
        `Unknown ${where} option "${key}"${guess ? `; did you mean "${guess}"?` : `; known options: ${known.join(", ")}.`}`,
      );
    }
  }
}

function positiveNumber(value: unknown, field: string, { integer }: { integer: boolean }): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`${field} must be a positive ${integer ? "whole number" : "number"}; got ${JSON.stringify(value)}.`);
  }
}

/** Checks a configuration and names the field at fault. */
export function validateConfig(config: unknown, source: string): DatabaseTaskConfig {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ConfigError(`${source} must export a configuration object (export default defineConfig({ ... })).`);
  }
  checkKeys(config, TOP_LEVEL_KEYS, "configuration");
  const c = config as DatabaseTaskConfig;
  if (c.database !== undefined && !["string", "object", "function"].includes(typeof c.database)) {
    throw new ConfigError(`database must be a URL string, a knex configuration or a knex instance.`);
  }
  if (c.backends !== undefined) {
    if (typeof c.backends !== "object" || c.backends === null) throw new ConfigError("backends must be an object of named backends.");
    for (const [name, backend] of Object.entries(c.backends)) {
      if (typeof backend !== "object" || backend === null) throw new ConfigError(`backends.${name} must be an object with a "backend" field.`);
      checkKeys(backend, BACKEND_KEYS, `backends.${name}`);
      if (typeof backend.backend !== "function" && !BUILT_IN_BACKENDS.includes(backend.backend)) {
        const guess = closest(String(backend.backend), BUILT_IN_BACKENDS);
        throw new ConfigError(
          `backends.${name}.backend must be one of ${BUILT_IN_BACKENDS.join(", ")} or a factory function; got ${JSON.stringify(backend.backend)}` +
            (guess ? `; did you mean "${guess}"?` : "."),
        );
      }
      if (backend.queues !== undefined && (!Array.isArray(backend.queues) || backend.queues.some((q) => typeof q !== "string"))) {
        throw new ConfigError(`backends.${name}.queues must be an array of queue names ([] accepts any queue).`);
      }
    }
  }
  if (c.tasks !== undefined && (!Array.isArray(c.tasks) || c.tasks.some((t) => typeof t !== "string"))) {
    throw new ConfigError("tasks must be an array of module paths, e.g. tasks: [\"./src/tasks.ts\"].");
  }
  if (c.worker !== undefined) {
    checkKeys(c.worker, WORKER_KEYS, "worker");
    positiveNumber(c.worker.concurrency, "worker.concurrency", { integer: true });
    positiveNumber(c.worker.interval, "worker.interval", { integer: false });
    positiveNumber(c.worker.leaseSeconds, "worker.leaseSeconds", { integer: false });
    if (c.worker.prefetch !== undefined && (!Number.isInteger(c.worker.prefetch) || c.worker.prefetch < 0)) {
      throw new ConfigError(`worker.prefetch must be a whole number >= 0; got ${JSON.stringify(c.worker.prefetch)}.`);
    }
    if (c.worker.preparedStatements !== undefined && typeof c.worker.preparedStatements !== "boolean") {
      throw new ConfigError(`worker.preparedStatements must be true or false; got ${JSON.stringify(c.worker.preparedStatements)}.`);
    }
    if (c.worker.claimMode !== undefined) checkClaimMode(c.worker.claimMode, "worker.claimMode");
  }
  return c;
}
