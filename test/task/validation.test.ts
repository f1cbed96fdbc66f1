import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  close,
  configure,
  DatabaseTaskError,
  DummyBackend,
  getBackend,
  InvalidTaskError,
  task,
  TaskResultDoesNotExistError,
  UnknownBackendError,
} from "../../src/index.ts";
import { validateConfig } from "../../src/config/config.ts";

const echo = task(function validationEcho(...values: unknown[]) {
  return values;
});

const typed = task(function validationTyped(id: number, label: string) {
  return `${id}:${label}`;
});

beforeAll(() => {
  configure({
    backends: {
      default: { backend: "dummy" },
      limited: { backend: "dummy", queues: ["default", "emails"] },
      inline: { backend: "immediate" },
    },
  });
});

afterAll(() => close());

describe("task()", () => {
  it("uses the function's name, and defaults like django-database-task", () => {
    expect(typed).toMatchObject({ name: "validationTyped", priority: 0, queueName: "default", backend: "default", takesContext: false, maxAttempts: 1 });
  });

  it("refuses a duplicate name at definition", () => {
    expect(() => task(function validationTyped() {})).toThrow('A task named "validationTyped" is already defined');
  });

  it("refuses an anonymous function without a name", () => {
    expect(() => task(() => 1)).toThrow("A task needs a name");
  });

  it("refuses takesContext without a parameter for it", () => {
    expect(() => task(function noContextParam() {}, { takesContext: true })).toThrow("takes context but its function has no first parameter");
  });

  it.each([[101], [-101], [1.5], [Number.NaN], ["5"]])("refuses priority %s", (priority) => {
    expect(() => task(function badPriority() {}, { name: `badPriority${String(priority)}`, priority: priority as number })).toThrow(
      /priority must be a whole number between -100 and 100; got/,
    );
    expect(() => echo.using({ priority: priority as number })).toThrow(InvalidTaskError);
  });

  it("refuses unknown options, naming them", () => {
    expect(() => task(function unknownOption() {}, { queue: "x" } as never)).toThrow('Unknown task option "queue"');
    expect(() => echo.using({ run_after: new Date() } as never)).toThrow('Unknown option "run_after" for using()');
  });

  it("using() returns a modified copy and leaves the original alone", () => {
    const when = new Date(Date.now() + 1000);
    const copy = echo.using({ priority: 7, queueName: "emails", runAfter: when });
    expect(copy).toMatchObject({ name: echo.name, priority: 7, queueName: "emails", runAfter: when });
    expect(echo).toMatchObject({ priority: 0, queueName: "default", runAfter: null });
  });

  it("refuses runAfter that is not a valid Date", () => {
    expect(() => echo.using({ runAfter: new Date("nope") })).toThrow("runAfter must be a valid Date (or null); got Invalid Date.");
    expect(() => echo.using({ runAfter: "2030-01-01" as never })).toThrow('runAfter must be a valid Date (or null); got "2030-01-01".');
  });

  it("call() runs the function directly", async () => {
    expect(await typed.call(1, "a")).toBe("1:a");
  });

  it("wrong argument types fail to compile", () => {
    // These lines are checked by `tsc --noEmit` in `npm test`: removing a @ts-expect-error that is no longer an error fails the build.
    const check = () => {
      // @ts-expect-error: a string where a number is expected
      void typed.enqueue("1", "a");
      // @ts-expect-error: missing argument
      void typed.enqueue(1);
      void typed.enqueue(1, "a");
    };
    expect(typeof check).toBe("function");
  });
});

describe("arguments must be JSON values", () => {
  class Point {
    x = 1;
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;

  it.each<[string, unknown[], string]>([
    ["Date", [1, { createdAt: new Date() }], "args[1].createdAt: Date is not JSON-serializable; pass date.toISOString()"],
    ["BigInt", [10n], "args[0]: BigInt is not JSON-serializable; pass value.toString()"],
    ["NaN", [{ n: [Number.NaN] }], "args[0].n[0]: NaN is not JSON-serializable; pass a finite number or null"],
    ["Infinity", [Infinity], "args[0]: Infinity is not JSON-serializable; pass a finite number or null"],
    ["undefined", [undefined], "args[0]: undefined is not JSON-serializable; pass null instead"],
    ["undefined property", [{ a: undefined }], "args[0].a: undefined is not JSON-serializable; pass null instead"],
    ["Map", [new Map()], "args[0]: Map is not JSON-serializable; pass Object.fromEntries(map)"],
    ["Set", [new Set([1])], "args[0]: Set is not JSON-serializable; pass [...set]"],
    ["class instance", [new Point()], "args[0]: Point instance is not JSON-serializable; pass a plain object, array or primitive"],
    ["cycle", [cyclic], "args[0].self: circular reference is not JSON-serializable"],
    ["function", [() => 1], "args[0]: a function is not JSON-serializable"],
    ["odd key", [{ "a b": new Date(0) }], 'args[0]["a b"]: Date is not JSON-serializable; pass date.toISOString()'],
    ["invalid UTF-8 bytes", [Buffer.from([0xff, 0xfe])], "args[0]: bytes are not valid UTF-8; encode binary data as a base64 string"],
  ])("refuses %s with a TypeError naming the path", async (_label, args, message) => {
    const dummy = (await getBackend()) as DummyBackend;
    dummy.clear();
    const error = await echo.enqueue(...args).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(message);
    expect(dummy.results).toHaveLength(0);
  });

  it("accepts UTF-8 bytes as a string, and shared (non-cyclic) references", async () => {
    const shared = { v: 1 };
    const result = await echo.enqueue(Buffer.from("héllo"), new Uint8Array([0x68, 0x69]), [shared, shared]);
    expect(result.args).toEqual(["héllo", "hi", [{ v: 1 }, { v: 1 }]]);
  });

  it("names the item of a bulk enqueue", async () => {
    await expect(echo.enqueueMany([[1], [new Date(0)]])).rejects.toThrow("[1].args[0]: Date is not JSON-serializable");
  });
});

describe("backends", () => {
  it("refuses a queue the backend does not list; an empty list allows any", async () => {
    await expect(echo.using({ backend: "limited", queueName: "reports" }).enqueue()).rejects.toThrow(
      'Queue "reports" is not valid for backend "limited"; its queues are "default", "emails".',
    );
    await expect(echo.using({ backend: "limited", queueName: "emails" }).enqueue()).resolves.toMatchObject({ queueName: "emails" });
    await expect(echo.using({ queueName: "anything" }).enqueue()).resolves.toMatchObject({ queueName: "anything" });
  });

  it("refuses an unknown backend with an UnknownBackendError (code UNKNOWN_BACKEND, not an InvalidTaskError), listing the configured ones", async () => {
    const message = 'Backend "nope" is not configured; configured backends: "default", "limited", "inline".';
    const defined = task(function validationOnNope() {}, { backend: "nope" });
    const attempts = [echo.using({ backend: "nope" }).enqueue(), echo.using({ backend: "nope" }).enqueueMany([[1]]), defined.enqueue(), getBackend("nope")];
    for (const attempt of attempts) {
      const error = await attempt.then(() => null, (thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(UnknownBackendError);
      expect(error).toBeInstanceOf(DatabaseTaskError);
      expect(error).not.toBeInstanceOf(InvalidTaskError);
      expect(error).toMatchObject({ name: "UnknownBackendError", code: "UNKNOWN_BACKEND", backendName: "nope", message });
    }
  });

  it("dummy records without running; results can be read back and cleared", async () => {
    const dummy = (await getBackend()) as DummyBackend;
    dummy.clear();
    const result = await typed.enqueue(3, "x");
    expect(result.status).toBe("READY");
    expect(dummy.results.map((r) => r.args)).toEqual([[3, "x"]]);
    expect((await typed.getResult(result.id)).status).toBe("READY");
    dummy.clear();
    await expect(typed.getResult(result.id)).rejects.toBeInstanceOf(TaskResultDoesNotExistError);
  });

  it("immediate runs inline and returns the final state", async () => {
    const ok = await typed.using({ backend: "inline" }).enqueue(7, "y");
    expect(ok).toMatchObject({ status: "SUCCESSFUL", returnValue: "7:y", attempts: 1 });
    const boom = task(function validationBoom() {
      throw new TypeError("bad");
    }, { backend: "inline", maxAttempts: 2 });
    const failed = await boom.enqueue();
    expect(failed).toMatchObject({ status: "FAILED", attempts: 2 });
    expect(failed.errors.map((e) => e.errorClass)).toEqual(["TypeError", "TypeError"]);
    expect((await failed.refresh()).status).toBe("FAILED");
  });

  it("immediate refuses runAfter, which it cannot honour", async () => {
    await expect(typed.using({ backend: "inline", runAfter: new Date() }).enqueue(1, "a")).rejects.toThrow("cannot delay tasks");
  });
});

describe("configuration", () => {
  it("answers an unknown key with 'did you mean'", () => {
    expect(() => validateConfig({ databse: "x" }, "test")).toThrow('Unknown configuration option "databse"; did you mean "database"?');
    expect(() => validateConfig({ backends: { default: { backend: "databse" } } }, "test")).toThrow('did you mean "database"?');
    expect(() => validateConfig({ worker: { concurency: 2 } }, "test")).toThrow('did you mean "concurrency"?');
    expect(() => validateConfig({ worker: { concurrency: 0 } }, "test")).toThrow("worker.concurrency must be a positive whole number; got 0.");
    expect(() => validateConfig({ tasks: "./tasks.ts" }, "test")).toThrow("tasks must be an array of module paths");
    expect(() => validateConfig({ worker: { preparedStatements: "no" } }, "test")).toThrow('worker.preparedStatements must be true or false; got "no".');
  });
});

describe("enqueue when the database is unreachable", () => {
  it("rejects with a StorageError that says nothing was stored", async () => {
    const { StorageError } = await import("../../src/index.ts");
    configure({ database: "postgres://nobody@127.0.0.1:1/none", logger: { debug() {}, info() {}, warn() {}, error() {} } });
    try {
      const error = await typed.enqueue(1, "x").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as Error).message).toMatch(/^Could not enqueue "validationTyped": .*ECONNREFUSED.*\. The database stored either all or none of the task;/);
      expect((error as { taskIds: string[] }).taskIds).toHaveLength(1);
    } finally {
      configure({ backends: { default: { backend: "dummy" } } });
    }
  });
});

describe("error messages", () => {
  it("keep the driver's message and drop the SQL statement knex puts in front of it", async () => {
    const { errorMessage } = await import("../../src/errors.ts");
    expect(errorMessage(new Error("insert into `database_task` (`args`) values (?) - Connection lost: The server closed the connection."))).toBe(
      "Connection lost: The server closed the connection.",
    );
    expect(errorMessage(new Error('select * from "database_task" where "id" = $1 - relation "database_task" does not exist'))).toBe(
      'relation "database_task" does not exist',
    );
    expect(errorMessage(new Error("connect ECONNREFUSED 127.0.0.1:5432"))).toBe("connect ECONNREFUSED 127.0.0.1:5432");
  });
});

describe("task ids", () => {
  it("are RFC 9562 version 7 UUIDs that sort by creation time", async () => {
    const { newTaskId } = await import("../../src/storage/task-id.ts");
    const earlier = newTaskId(Date.UTC(2030, 0, 1));
    const later = newTaskId(Date.UTC(2030, 0, 1) + 1);
    for (const id of [earlier, later, newTaskId()]) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(earlier < later).toBe(true);
    expect(parseInt(earlier.replace("-", "").slice(0, 12), 16)).toBe(Date.UTC(2030, 0, 1));
    expect(new Set(Array.from({ length: 1000 }, () => newTaskId(0))).size).toBe(1000);
  });

  it("keep the order they were made in within one millisecond, past 4,096 of them", async () => {
    const { newTaskId } = await import("../../src/storage/task-id.ts");
    const at = Date.UTC(2031, 5, 1);
    const ids = Array.from({ length: 10_000 }, () => newTaskId(at));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // The first ones carry that millisecond; only after 4,096 do they borrow the next ones.
    expect(parseInt(ids[0].replace("-", "").slice(0, 12), 16)).toBe(at);
    expect(parseInt(ids.at(-1)!.replace("-", "").slice(0, 12), 16)).toBeLessThanOrEqual(at + 5);
  });
});
