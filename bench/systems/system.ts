/**
 * The one interface every queue under test implements, so the workloads are
 * written once. The producer runs in the benchmark's own process; the worker
 * runs in a separate child process (bench/child.ts), like a real deployment.
 */
import { readFileSync } from "node:fs";

export type SystemName = "database-task" | "graphile-worker" | "pg-boss";

export const SYSTEM_NAMES: readonly SystemName[] = ["database-task", "graphile-worker", "pg-boss"];

/** What every benchmark job carries: a sequence number, and a tag on latency probes. */
export interface Payload {
  n: number;
  tag?: number;
}

/** The no-op job body, the same for every system. Its return value is the task's result. */
export type JobHandler = (payload: Payload) => unknown;

export interface Producer {
  /** Enqueues one job and resolves once it is stored (committed). */
  enqueue(payload: Payload): Promise<void>;
  /** Enqueues all of them with the system's bulk call (one call). */
  enqueueMany(payloads: Payload[]): Promise<void>;
  close(): Promise<void>;
}

export interface PreparedWorker {
  /**
   * Starts claiming jobs. Everything that can be done beforehand (loading
   * modules, opening connections) was done when the worker was prepared, so
   * the drain clock starts right before this call.
   */
  start(): Promise<void>;
  /** Stops claiming, waits for jobs in hand, closes connections. */
  stop(): Promise<void>;
}

export interface QueueSystem {
  readonly name: SystemName;
  /** Package version (and for this project the git commit). */
  readonly version: string;
  /** The configuration used, as printed and saved in the results. */
  readonly configuration: Record<string, unknown>;
  /** Creates the system's tables in an empty database. */
  install(url: string): Promise<void>;
  producer(url: string): Promise<Producer>;
  prepareWorker(url: string, options: { concurrency: number; pollSeconds: number; handler: JobHandler }): Promise<PreparedWorker>;
  /** SQL returning one number: jobs enqueued but not yet recorded as finished. */
  readonly unfinishedSql: string;
}

/** Loads one adapter (dynamically, so a worker child only loads the library it runs). */
export async function loadSystem(name: string): Promise<QueueSystem> {
  switch (name) {
    case "database-task":
      return (await import("./database-task.ts")).databaseTask;
    case "graphile-worker":
      return (await import("./graphile-worker.ts")).graphileWorker;
    case "pg-boss":
      return (await import("./pg-boss.ts")).pgBoss;
    default:
      throw new Error(`Unknown system "${name}"; expected one of ${SYSTEM_NAMES.join(", ")}`);
  }
}

/** The installed version of a package, read from its package.json under node_modules. */
export function installedVersion(packageName: string): string {
  const url = new URL(`../../node_modules/${packageName}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}
