/** The attempt's AbortSignal is made lazily; it must behave as if it had existed all along. */
import { expect, it } from "vitest";
import { AttemptAbort } from "../../src/worker/execute.ts";

it("a signal asked for after the abort is already aborted, with the reason", () => {
  const abort = new AttemptAbort();
  const reason = new Error("worker shutting down");
  abort.abort(reason);
  expect(abort.signal.aborted).toBe(true);
  expect(abort.signal.reason).toBe(reason);
});

it("a signal asked for before the abort fires its listeners once, with the first reason", () => {
  const abort = new AttemptAbort();
  const seen: unknown[] = [];
  abort.signal.addEventListener("abort", () => seen.push(abort.signal.reason));
  abort.abort("timeout");
  abort.abort("shutdown");
  expect(seen).toEqual(["timeout"]);
  expect(abort.signal).toBe(abort.signal);
});
