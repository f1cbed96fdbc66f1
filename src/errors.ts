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
  const message = error instanceof Error ? error.message : String(error);
  const driverPart = /^\s*(?:insert|select|update|delete|with|alter|create|drop)\b[\s\S]*? - ([\s\S]+)$/i.exec(message);
  return driverPart ? driverPart[1] : message;
}
