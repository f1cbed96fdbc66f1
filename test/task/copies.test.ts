/**
 * Two copies of the library in one process (src/ and dist/, say) keep two task registries:
 * "No task named X" must then say so, name both copies and what to do.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { task } from "../../src/index.ts";
import { loadedCopies, otherCopiesHint, recordCopy, THIS_COPY, type LibraryCopy } from "../../src/task/copies.ts";
import { TaskNotRegisteredError } from "../../src/worker/execute.ts";

task(function copiesHere() {}, { name: "copies.here" });

const otherCopy: LibraryCopy = { location: "/elsewhere/node_modules/database-task/dist/", taskNames: () => ["copies.hello", "copies.other"] };

const recorded = [...loadedCopies()];

afterEach(() => {
  loadedCopies().splice(0, Infinity, ...recorded);
  vi.restoreAllMocks();
});

describe("one copy of the library per process", () => {
  it("this copy is recorded process-wide, and alone it adds nothing to the message", () => {
    expect(loadedCopies().map((copy) => copy.location)).toEqual([THIS_COPY]);
    expect(THIS_COPY).toMatch(/[/\\]src[/\\]$/);
    expect(otherCopiesHint("copies.hello")).toBe("");
    expect(new TaskNotRegisteredError("copies.hello").message).not.toContain("more than once");
  });

  it("names both copies, the one defining the task, and what to do", () => {
    loadedCopies().push(otherCopy);
    const message = new TaskNotRegisteredError("copies.hello").message;
    expect(message).toContain('No task named "copies.hello" is defined in this process');
    expect(message).toContain("Defined here: copies.here.");
    expect(message).toContain(`database-task is loaded more than once in this process: tasks are run here by the copy in ${THIS_COPY}`);
    expect(message).toContain(`${otherCopy.location} (where "copies.hello" is defined)`);
    expect(message).toContain("each copy has its own task registry");
    expect(message).toContain('Import the library from one place: write `import ... from "database-task"`');
  });

  it("lists the other copy's tasks when it does not define the one asked for either", () => {
    expect(otherCopiesHint("copies.missing", [otherCopy], THIS_COPY)).toContain(`${otherCopy.location} (defining copies.hello, copies.other)`);
    expect(otherCopiesHint("copies.missing", [{ location: "/b/dist/", taskNames: () => [] }], "/a/src/")).toContain("/b/dist/ (defining no tasks)");
  });

  it("warns when a second, different copy is recorded, and not when the same files load again", () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    recordCopy(() => ["copies.here"]);
    expect(warn).not.toHaveBeenCalled();
    loadedCopies().push(otherCopy);
    recordCopy(() => ["copies.here"]);
    expect(warn).toHaveBeenCalledTimes(1);
    const [message, options] = warn.mock.calls[0] as [string, { code: string }];
    expect(options.code).toBe("DATABASE_TASK_COPIES");
    expect(message).toContain(`${THIS_COPY} and ${otherCopy.location}`);
    expect(loadedCopies().filter((copy) => copy.location === THIS_COPY)).toHaveLength(1);
  });
});
