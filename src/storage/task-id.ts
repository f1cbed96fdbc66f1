import { randomUUID } from "node:crypto";

let lastMs = -1;
let counter = 0;
/** Beyond this the caller asked for an older time on purpose, and gets it. */
const MAX_CLOCK_STEP_BACK_MS = 10_000;

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit counter, then
 * random bits. Time ordering puts new rows at the right edge of the
 * primary-key index, so inserts and updates stay on cached pages however
 * large the history grows, and lets the primary key serve "newest first".
 * The counter (the RFC's method 1, started at a random value each
 * millisecond) keeps ids made in one process in the order they were made
 * within a millisecond, so tasks enqueued together are claimed in that order
 * on databases that break ties by primary key. The random tail comes from
 * Node's native v4, ten times faster than a JavaScript generator: that
 * matters for bulk enqueue.
 */
export function newTaskId(now = Date.now()): string {
  let ms = now;
  if (ms <= lastMs && lastMs - ms < MAX_CLOCK_STEP_BACK_MS) {
    // The same millisecond (or the clock stepped back a little): count on from the last id.
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      ms++; // 4,096 ids in one millisecond (a large enqueueMany): borrow the next one, as the RFC allows
      counter = 0;
    }
    lastMs = ms;
  } else {
    counter = Math.floor(Math.random() * 0x800); // the high bit stays clear: room to count up
    if (ms > lastMs) lastMs = ms; // an explicitly older time (tests, imports) leaves the sequence alone
  }
  const time = ms.toString(16).padStart(12, "0");
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${counter.toString(16).padStart(3, "0")}${randomUUID().slice(18)}`;
}
