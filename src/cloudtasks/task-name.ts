import { createHash } from "node:crypto";

/**
 * The Cloud Task id for one generation of one of our tasks:
 * `<8 hex of a hash>-<task id>-<generation>`. Deterministic, so creating it
 * twice answers ALREADY_EXISTS instead of making a second Cloud Task. The
 * hashed prefix spreads names over Cloud Tasks' key space: our ids are UUIDv7,
 * which start with the enqueue time, and Google's CreateTask documentation
 * warns that sequential or timestamp-prefixed names raise latency and errors.
 */
export function cloudTaskId(taskId: string, generation: number): string {
  const prefix = createHash("sha256").update(`${taskId}/${generation}`).digest("hex").slice(0, 8);
  return `${prefix}-${taskId}-${generation}`;
}

/** Cloud Tasks queue ids: letters, digits and hyphens, at most 100 characters. */
export const QUEUE_ID = /^[A-Za-z0-9-]{1,100}$/;

/**
 * Cloud Tasks refuses a schedule time more than 30 days ahead. A task due later
 * is stored without a Cloud Task; the maintenance pass creates it once the due
 * time is within this horizon (an hour short of the limit, for clock skew and
 * a pass that runs only every so often).
 */
export const SCHEDULE_HORIZON_MS = 30 * 86_400_000 - 3_600_000;
