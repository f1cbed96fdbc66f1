/**
 * What one attempt reports, whichever way the function ends: a plain value
 * (returned at once, without a promise), a promise, a throw or a rejection,
 * and return values that cannot be stored as they are.
 */
import { describe, expect, it } from "vitest";
import { task } from "../../src/index.ts";
import type { TaskResultData } from "../../src/task/result.ts";
import { invokeTask, type Invocation } from "../../src/worker/execute.ts";

const data = (args: unknown[]): TaskResultData =>
  ({ id: "0190aaaa-0000-7000-8000-000000000000", taskName: "invoke.test", args, attempts: 1, maxAttempts: 1 }) as TaskResultData;
const noResult = () => {
  throw new Error("no context asked for");
};
let defined = 0;
const run = (fn: (...args: any[]) => unknown, args: unknown[] = []) =>
  invokeTask(data(args), noResult, task(fn, { name: `invoke.test.${defined++}` }));

describe("invokeTask", () => {
  it("reports a plain return value without a promise, the value itself rather than a copy", () => {
    const value = { n: 1, list: [1, "a", null, true, { deep: [2.5] }] };
    const invocation = run(() => value);
    expect(invocation).not.toBeInstanceOf(Promise);
    expect(invocation).toEqual({ ok: true, value });
    expect((invocation as Extract<Invocation, { ok: true }>).value).toBe(value);
  });

  it("records undefined as null", () => {
    expect(run(() => undefined)).toEqual({ ok: true, value: null });
  });

  it("awaits a returned promise, and any thenable", async () => {
    expect(await run(async (a: number) => a * 2, [21])).toEqual({ ok: true, value: 42 });
    const thenable = { then: (resolve: (v: unknown) => void) => resolve("from a thenable") };
    expect(await run(() => thenable)).toEqual({ ok: true, value: "from a thenable" });
  });

  it("reports a throw and a rejection as failures, never throwing itself", async () => {
    const thrown = run(() => {
      throw new RangeError("sync");
    });
    expect(thrown).toMatchObject({ ok: false, error: { errorClass: "RangeError", message: "sync" } });
    expect(await run(async () => Promise.reject(new TypeError("async")))).toMatchObject({
      ok: false,
      error: { errorClass: "TypeError", message: "async" },
    });
  });

  it("fails an attempt whose return value cannot be stored, naming where, sync or async", async () => {
    const expected = { ok: false, error: { message: "return value.when: Date is not JSON-serializable; pass date.toISOString()" } };
    expect(run(() => ({ when: new Date() }))).toMatchObject(expected);
    expect(await run(async () => ({ when: new Date() }))).toMatchObject(expected);
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    expect(run(() => circular)).toMatchObject({ ok: false, error: { message: "return value.self: circular reference is not JSON-serializable" } });
  });

  it("stores bytes as their UTF-8 text, and plain values nested deeper than the fast check", () => {
    expect(run(() => ({ text: Buffer.from("héllo") }))).toEqual({ ok: true, value: { text: "héllo" } });
    let deep: unknown = "bottom";
    for (let i = 0; i < 200; i++) deep = [deep];
    expect(run(() => deep)).toEqual({ ok: true, value: deep });
  });
});
