import { fileURLToPath } from "node:url";

/**
 * Two copies of the library in one process (say src/ run by the CLI, and dist/ imported by
 * the user's task module) each keep their own task registry and configuration, so a worker
 * of one cannot see the tasks defined through the other. Each copy records itself here,
 * process-wide, so that case is named instead of reported as a missing task.
 */
export interface LibraryCopy {
  /** The copy's directory (…/src/ or …/dist/). */
  readonly location: string;
  /** The task names its registry holds. */
  taskNames(): string[];
}

const COPIES = Symbol.for("database-task.copies");

/** This copy's directory: the parent of task/. */
export const THIS_COPY = fileURLToPath(new URL("..", import.meta.url));

const ADVICE =
  'Import the library from one place: write `import ... from "database-task"` (not a path into its src/ or dist/) ' +
  "and run the worker or server of that same installation (npx database-task, or bin/database-task.js / handler/index.ts " +
  'of the same checkout, which send "database-task" to its src/).';

export function loadedCopies(): LibraryCopy[] {
  const global = globalThis as { [COPIES]?: LibraryCopy[] };
  return (global[COPIES] ??= []);
}

/** Records this copy (its registry's names); warns once a second, different copy is loaded. */
export function recordCopy(taskNames: () => string[]): void {
  const copies = loadedCopies();
  const index = copies.findIndex((copy) => copy.location === THIS_COPY);
  // The same files loaded again (a test runner resetting its modules) replace their entry.
  if (index >= 0) copies.splice(index, 1);
  copies.push({ location: THIS_COPY, taskNames });
  const others = copies.filter((copy) => copy.location !== THIS_COPY);
  if (others.length > 0) {
    process.emitWarning(
      `database-task is loaded more than once in this process: ${[THIS_COPY, ...others.map((c) => c.location)].join(" and ")}. ` +
        `Each copy keeps its own tasks and configuration. ${ADVICE}`,
      { code: "DATABASE_TASK_COPIES" },
    );
  }
}

/**
 * What to add to "No task named X" when other copies are loaded: where they are, which of
 * them defines `taskName`, and what to do. Empty when this is the only copy.
 */
export function otherCopiesHint(taskName: string, copies: LibraryCopy[] = loadedCopies(), here = THIS_COPY): string {
  const others = copies.filter((copy) => copy.location !== here);
  if (others.length === 0) return "";
  const described = others.map((copy) => {
    const names = copy.taskNames();
    return `${copy.location} (${names.includes(taskName) ? `where "${taskName}" is defined` : `defining ${names.length ? names.join(", ") : "no tasks"}`})`;
  });
  return (
    ` database-task is loaded more than once in this process: tasks are run here by the copy in ${here}, and another copy ` +
    `is loaded from ${described.join(", ")}; each copy has its own task registry. ${ADVICE}`
  );
}
