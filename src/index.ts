/**
 * database-task: a background task queue that keeps its tasks in your own SQL
 * database. This file is the public surface and nothing more.
 */
export { task, Task, type TaskContext, type TaskOptions, type UsingOptions } from "./task/task.ts";
export { TaskResult, TaskStatus, TASK_STATUSES, type TaskError, type TaskResultData } from "./task/result.ts";
export type { JsonValue } from "./task/json.ts";
export { events, type TaskEvents } from "./events.ts";
export { configure, loadConfig, getBackend, getRuntime, migrate, close, registerBackendFactory, Runtime } from "./runtime.ts";
export { defineConfig, type DatabaseTaskConfig, type BackendConfig, type WorkerSettings, type ClaimMode } from "./config/config.ts";
export type { Backend, BackendContext } from "./backends/backend.ts";
export { DatabaseBackend } from "./backends/database.ts";
export { ImmediateBackend, DummyBackend } from "./backends/memory.ts";
export {
  processOneTask,
  processTasks,
  getPendingTaskCount,
  runTaskById,
  executeTaskById,
  purgeCompletedTasks,
  recoverLostTasks,
  type ExecuteOptions,
  type ExecuteOutcome,
  type PurgeOptions,
  type PurgeResult,
  type QueueSelection,
} from "./worker/api.ts";
export { maintainTasks, type MaintenanceOptions, type MaintenanceSummary } from "./maintenance.ts";
export type { DeliveryMaintenance } from "./backends/backend.ts";
export { Worker, type WorkerOptions, type WorkerSummary } from "./worker/worker.ts";
export { MIGRATIONS_TABLE } from "./storage/migrate.ts";
export { migrationSourceFor, type DatabaseConfig } from "./storage/connect.ts";
export {
  DatabaseTaskError,
  InvalidTaskError,
  TaskResultDoesNotExistError,
  ConfigError,
  UnknownBackendError,
  StorageError,
  EnqueueError,
} from "./errors.ts";
export type { Logger } from "./log.ts";
