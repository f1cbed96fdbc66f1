import { InvalidTaskError } from "../errors.ts";
import { otherCopiesHint, recordCopy } from "./copies.ts";
import type { AnyTask } from "./task.ts";

/** Every task defined in this process, by name: how a worker finds the function for a stored row. */
const tasksByName = new Map<string, AnyTask>();

export function registerTask(task: AnyTask): void {
  const existing = tasksByName.get(task.name);
  if (existing && existing.fn !== task.fn) {
    throw new InvalidTaskError(
      `A task named "${task.name}" is already defined; task names must be unique. Pass a different { name } to task().`,
    );
  }
  tasksByName.set(task.name, task);
}

export function getRegisteredTask(name: string): AnyTask | undefined {
  return tasksByName.get(name);
}

export function registeredTaskNames(): string[] {
  return [...tasksByName.keys()].sort();
}

// Process-wide note of this copy of the library, so a second copy (its own registry) is named.
recordCopy(registeredTaskNames);

/** Added to "No task named X": the other copies of the library loaded in this process, if any. */
export function missingTaskHint(name: string): string {
  return otherCopiesHint(name);
}
