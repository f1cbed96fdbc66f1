import type { Knex } from "knex";
import { InvalidTaskError } from "../errors.ts";
import { getBackend } from "../runtime.ts";
import { normalizeJson, type JsonValue } from "./json.ts";
import { registerTask } from "./registry.ts";
import type { TaskResult } from "./result.ts";
import { validateMaxAttempts, validateName, validatePriority, validateQueue, validateRunAfter, validateTimeout } from "./validate.ts";

/** Passed as the first argument to tasks defined with `takesContext: true`. */
export interface TaskContext {
  /** The task as stored when this attempt started. */
  taskResult: TaskResult;
  /** 1 on the first run, 2 on the first retry, ... */
  attempt: number;
  /** Aborted when the attempt times out (the `timeout` option) or the worker shuts down: stop early when you can. */
  signal: AbortSignal;
}

export interface TaskOptions {
  /** Stable, unique name stored with each task; defaults to the function's name. */
  name?: string;
  /** -100..100; higher runs first. Default 0. */
  priority?: number;
  /** Default "default". */
  queueName?: string;
  /** Name of the configured backend. Default "default". */
  backend?: string;
  /** When true the function receives a TaskContext as its first argument. */
  takesContext?: boolean;
  /** Attempts before the task is FAILED for good (1 = no retry, the default). */
  maxAttempts?: number;
  /** Seconds an attempt may run before it counts as failed (TaskTimeoutError). Default: no limit. */
  timeout?: number | null;
}

export interface UsingOptions {
  priority?: number;
  queueName?: string;
  /** Do not run before this time. */
  runAfter?: Date | null;
  backend?: string;
  /** Enqueue inside this knex transaction: the task exists only if it commits (database backends). */
  transaction?: Knex.Transaction | null;
  maxAttempts?: number;
}

/** What a backend needs to store one enqueue call. */
export interface EnqueueRequest {
  taskName: string;
  queueName: string;
  priority: number;
  runAfter: Date | null;
  maxAttempts: number;
  transaction: Knex.Transaction | null;
  argsList: JsonValue[][];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFunction = (...args: any[]) => unknown;
type DropFirst<T extends unknown[]> = T extends [unknown, ...infer Rest] ? Rest : never;

interface TaskSettings {
  name: string;
  priority: number;
  queueName: string;
  backend: string;
  takesContext: boolean;
  maxAttempts: number;
  timeout: number | null;
  runAfter: Date | null;
  transaction: Knex.Transaction | null;
}

/**
 * A task definition. Immutable: `using()` returns a modified copy.
 * `A` is the argument list `enqueue` accepts, `R` what the function resolves to.
 */
export class Task<A extends unknown[] = unknown[], R = unknown> {
  readonly fn: AnyFunction;
  readonly name: string;
  readonly priority: number;
  readonly queueName: string;
  readonly backend: string;
  readonly takesContext: boolean;
  readonly maxAttempts: number;
  /** Seconds an attempt may run; null = no limit. */
  readonly timeout: number | null;
  readonly runAfter: Date | null;
  readonly transaction: Knex.Transaction | null;

  constructor(fn: AnyFunction, settings: TaskSettings) {
    this.fn = fn;
    this.name = settings.name;
    this.priority = settings.priority;
    this.queueName = settings.queueName;
    this.backend = settings.backend;
    this.takesContext = settings.takesContext;
    this.maxAttempts = settings.maxAttempts;
    this.timeout = settings.timeout;
    this.runAfter = settings.runAfter;
    this.transaction = settings.transaction;
    Object.freeze(this);
  }

  /** A copy of this task with some enqueue settings changed. */
  using(options: UsingOptions): Task<A, R> {
    const known = new Set(["priority", "queueName", "runAfter", "backend", "transaction", "maxAttempts"]);
    for (const key of Object.keys(options ?? {})) {
      if (!known.has(key)) throw new InvalidTaskError(`Unknown option "${key}" for using(); known: ${[...known].join(", ")}.`);
    }
    return new Task<A, R>(this.fn, {
      ...this.settings(),
      ...(options.priority !== undefined && { priority: validatePriority(options.priority) }),
      ...(options.queueName !== undefined && { queueName: validateName(options.queueName, "queueName") }),
      ...(options.backend !== undefined && { backend: validateName(options.backend, "backend") }),
      ...(options.maxAttempts !== undefined && { maxAttempts: validateMaxAttempts(options.maxAttempts) }),
      ...("runAfter" in options && { runAfter: validateRunAfter(options.runAfter) }),
      ...("transaction" in options && { transaction: options.transaction ?? null }),
    });
  }

  /** Stores the task for a worker to run; resolves once it is stored. */
  async enqueue(...args: A): Promise<TaskResult<Awaited<R>>> {
    const [result] = await this.enqueueMany([args]);
    return result;
  }

  /** Stores one task per argument list, in one statement on the database backend. */
  async enqueueMany(argsList: A[]): Promise<TaskResult<Awaited<R>>[]> {
    if (!Array.isArray(argsList)) throw new TypeError("enqueueMany() takes an array of argument lists.");
    const normalized = argsList.map((args, i) => {
      if (!Array.isArray(args)) throw new TypeError(`enqueueMany(): item ${i} must be an array of arguments.`);
      const prefix = argsList.length === 1 ? "args" : `[${i}].args`;
      return args.map((arg, j) => normalizeJson(arg, `${prefix}[${j}]`));
    });
    const backend = await getBackend(this.backend);
    validateQueue(this.queueName, backend.queues, backend.name);
    if (this.runAfter && !backend.supportsDefer) {
      throw new InvalidTaskError(`Backend "${backend.name}" cannot delay tasks; remove runAfter or use a database backend.`);
    }
    const results = await backend.enqueue(this as unknown as AnyTask, {
      taskName: this.name,
      queueName: this.queueName,
      priority: this.priority,
      runAfter: this.runAfter,
      maxAttempts: this.maxAttempts,
      transaction: this.transaction,
      argsList: normalized,
    });
    return results as TaskResult<Awaited<R>>[];
  }

  /** Reads a stored task by id (from this task's backend). */
  async getResult(id: string): Promise<TaskResult<Awaited<R>>> {
    const backend = await getBackend(this.backend);
    return (await backend.getResult(id)) as TaskResult<Awaited<R>>;
  }

  /** Runs the function directly, in this process, without storing anything. */
  async call(...args: A): Promise<Awaited<R>> {
    if (this.takesContext) {
      throw new InvalidTaskError(`Task "${this.name}" takes a context; call it through enqueue() (the immediate backend runs it inline).`);
    }
    return (await this.fn(...args)) as Awaited<R>;
  }

  private settings(): TaskSettings {
    return {
      name: this.name,
      priority: this.priority,
      queueName: this.queueName,
      backend: this.backend,
      takesContext: this.takesContext,
      maxAttempts: this.maxAttempts,
      timeout: this.timeout,
      runAfter: this.runAfter,
      transaction: this.transaction,
    };
  }
}

export type AnyTask = Task<unknown[], unknown>;

const TASK_OPTION_KEYS = new Set(["name", "priority", "queueName", "backend", "takesContext", "maxAttempts", "timeout"]);

/**
 * Defines a task. The name (the function's name unless given) is what is
 * stored, so a worker finds the function again: keep it stable and unique.
 */
export function task<F extends (context: TaskContext, ...args: any[]) => unknown>(
  fn: F,
  options: TaskOptions & { takesContext: true },
): Task<DropFirst<Parameters<F>>, ReturnType<F>>;
export function task<F extends AnyFunction>(fn: F, options?: TaskOptions & { takesContext?: false }): Task<Parameters<F>, ReturnType<F>>;
export function task(fn: AnyFunction, options: TaskOptions = {}): AnyTask {
  if (typeof fn !== "function") throw new InvalidTaskError("task() takes a function as its first argument.");
  for (const key of Object.keys(options)) {
    if (!TASK_OPTION_KEYS.has(key)) {
      throw new InvalidTaskError(`Unknown task option "${key}"; known options: ${[...TASK_OPTION_KEYS].join(", ")}.`);
    }
  }
  const name = options.name ?? fn.name;
  if (!name) {
    throw new InvalidTaskError("A task needs a name: use a named function or pass { name: \"...\" } to task().");
  }
  const takesContext = options.takesContext ?? false;
  if (takesContext && fn.length < 1) {
    throw new InvalidTaskError(`Task "${name}" takes context but its function has no first parameter for it.`);
  }
  const defined = new Task(fn, {
    name: validateName(name, "name"),
    priority: validatePriority(options.priority ?? 0),
    queueName: validateName(options.queueName ?? "default", "queueName"),
    backend: validateName(options.backend ?? "default", "backend"),
    takesContext,
    maxAttempts: validateMaxAttempts(options.maxAttempts ?? 1),
    timeout: validateTimeout(options.timeout ?? null),
    runAfter: null,
    transaction: null,
  });
  registerTask(defined);
  return defined;
}
