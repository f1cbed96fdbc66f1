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

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
