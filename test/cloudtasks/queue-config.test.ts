import { describe, expect, it } from "vitest";
import { applyQueueUpdate, backoffUs, defaultQueueSettings, retriesExhausted, settingsFromProto } from "../../src/cloudtasks/emulator/queue-config.ts";

const S = 1_000_000;

describe("queue retry settings", () => {
  it("follows the documented backoff: min, doubling max_doublings times, then linear, capped at max", () => {
    const retry = { ...defaultQueueSettings().retry, minBackoffUs: 10 * S, maxBackoffUs: 300 * S, maxDoublings: 3 };
    expect(Array.from({ length: 8 }, (_, i) => backoffUs(retry, i) / S)).toEqual([10, 20, 40, 80, 160, 240, 300, 300]);
  });

  it("defaults to the values a new queue shows", () => {
    expect(settingsFromProto({}).retry).toEqual({ maxAttempts: 100, maxRetryDurationUs: 0, minBackoffUs: 0.1 * S, maxBackoffUs: 3600 * S, maxDoublings: 16 });
  });

  it("stops only when both max_attempts and max_retry_duration are used up; -1 is unlimited", () => {
    const base = defaultQueueSettings().retry;
    const task = { dispatchCount: 3, firstAttemptUs: 0, createTimeUs: 0 };
    expect(retriesExhausted({ ...base, maxAttempts: 3 }, task, 1 * S)).toBe(true);
    expect(retriesExhausted({ ...base, maxAttempts: 4 }, task, 1 * S)).toBe(false);
    expect(retriesExhausted({ ...base, maxAttempts: 3, maxRetryDurationUs: 10 * S }, task, 5 * S)).toBe(false);
    expect(retriesExhausted({ ...base, maxAttempts: 3, maxRetryDurationUs: 10 * S }, task, 11 * S)).toBe(true);
    expect(retriesExhausted({ ...base, maxAttempts: -1 }, { ...task, dispatchCount: 10_000 }, 1 * S)).toBe(false);
  });

  it("keeps an explicit max_doublings of 0 given through an update mask", () => {
    const updated = applyQueueUpdate(defaultQueueSettings(), { retryConfig: {} }, ["retry_config.max_doublings"]);
    expect(updated.retry.maxDoublings).toBe(0);
    expect(applyQueueUpdate(defaultQueueSettings(), { retryConfig: {} }, ["retry_config"]).retry.maxDoublings).toBe(16);
  });
});
