/**
 * Every error this library throws on purpose is a DatabaseTaskError with a
 * stable `code`, so callers can branch on it without matching messages.
 */
export class DatabaseTaskError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A task definition or an enqueue request that cannot be accepted (Django's InvalidTask). */
export class InvalidTaskError extends DatabaseTaskError {
  constructor(message: string) {
    super("INVALID_TASK", message);
  }
}

/** No stored task has this id. */
export class TaskResultDoesNotExistError extends DatabaseTaskError {
  readonly taskId: string;
  constructor(taskId: string) {
    super("TASK_RESULT_DOES_NOT_EXIST", `No task with id=${taskId} exists.`);
    this.taskId = taskId;
  }
}

/** The configuration (file, object or environment) cannot be used as it is. */
export class ConfigError extends DatabaseTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIG", message, options);
  }
}

/** A backend name that the configuration does not define. */
export class UnknownBackendError extends DatabaseTaskError {
  readonly backendName: string;
  constructor(backendName: string, known: string[]) {
    super(
      "UNKNOWN_BACKEND",
      `Backend "${backendName}" is not configured; configured backends: ${known.map((k) => `"${k}"`).join(", ") || "(none)"}.`,
    );
    this.backendName = backendName;
  }
}

/** The database could not be reached or refused a statement. */
export class StorageError extends DatabaseTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STORAGE", message, options);
  }
}

/**
 * Enqueue failed at the database. The rows go in one statement (or one
 * transaction), so they were stored completely or not at all; when the
 * connection broke mid-statement the caller cannot know which, so the ids are
 * given to look them up before enqueueing again.
 */
export class EnqueueError extends StorageError {
  readonly taskIds: string[];
  constructor(taskName: string, taskIds: string[], cause: unknown) {
    const what = taskIds.length === 1 ? "the task" : `the ${taskIds.length} tasks`;
    super(
      `Could not enqueue "${taskName}": ${errorMessage(cause)}. The database stored either all or none of ${what}; ` +
        `if the connection was lost they may have been committed: look their ids up (error.taskIds, getResult) before enqueueing again.`,
      { cause },
    );
    this.taskIds = taskIds;
  }
}

/**
 * The message to show for an error. Knex prefixes driver errors with the SQL
 * statement ("insert into ... - connection lost"); only the driver's part is
 * kept, so no statement (nor, where a driver inlines them, task arguments)
 * reaches logs or callers.
 */
export function errorMessage(error: unknown): string {
  return withoutSql(error instanceof Error ? error.message : String(error), error);
}

/**
 * Knex's prefix is the statement up to the last " - ": statements themselves
 * contain " - " (`attempts - 1`), so cutting at the first one would keep SQL.
 */
const KNEX_SQL_PREFIX =
  /^\s*(?:\(|insert|select|update|delete|with|alter|create|drop|truncate|replace|begin|start|commit|rollback|savepoint|release|set|pragma|listen|unlisten|notify|lock)\b[\s\S]* - ([\s\S]+)$/i;

function withoutSql(message: string, error: unknown): string {
  let text = KNEX_SQL_PREFIX.exec(message)?.[1] ?? message;
  // Drivers keep the statement on the error too (mysql2's `sql`, pg's `query`): never let it through the message.
  for (const field of ["sql", "query"]) {
    const statement = (error as Record<string, unknown> | null)?.[field];
    if (typeof statement === "string" && statement.length >= 8 && text.includes(statement)) text = text.split(statement).join("[SQL]");
  }
  return text;
}

/** `DATABASE_TASK_DEBUG=1` (or `true`): unexpected errors are logged with their stack. */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(?:1|true|yes|on)$/i.test(env.DATABASE_TASK_DEBUG?.trim() ?? "");
}

/**
 * An unexpected error as one log field: its class and message, with knex's
 * SQL text taken out, then its causes the same way. Only the error's name,
 * message and code are read, never the fields drivers add (`sql`, `query`,
 * `parameters`, `detail`, `where`), which may carry statements and task
 * arguments. The stack is added only when `DATABASE_TASK_DEBUG` is set, and
 * without its first line, which V8 writes from the message knex rewrote.
 */
export function describeError(error: unknown, { stack = debugEnabled() }: { stack?: boolean } = {}): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    parts.push(describeOne(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  let text = parts.join("; caused by ");
  if (stack && error instanceof Error && typeof error.stack === "string") {
    const frames = error.stack.split("\n").filter((line) => /^\s+at /.test(line));
    if (frames.length > 0) text += `\n${frames.join("\n")}`;
  }
  return text;
}

function describeOne(error: unknown): string {
  if (!(error instanceof Error)) return `thrown ${typeof error}: ${withoutSql(String(error), error)}`;
  const ctor = (error as { constructor?: { name?: unknown } }).constructor?.name;
  const name = typeof ctor === "string" && ctor !== "" && ctor !== "Object" ? ctor : error.name || "Error";
  const code = (error as { code?: unknown }).code;
  const codeText = (typeof code === "string" && /^[A-Za-z0-9_.-]{1,40}$/.test(code)) || typeof code === "number" ? ` (code ${code})` : "";
  let message = withoutSql(error.message, error);
  // Node's connection errors to a dual-stack "localhost" come as an AggregateError with no message of its own.
  if (message === "" && error instanceof AggregateError) message = error.errors.slice(0, 3).map(describeOne).join(", ");
  return `${name}: ${message}${codeText}`;
}
