/**
 * How much a worker claims at a time. With nothing in hand, just enough to
 * fill its slots (a small claim is quick, so its slots start working at once),
 * then its prefetch while those run.
 *
 * A worker frees a slot when the function returns and writes outcomes in
 * batches. When the database records outcomes slower than tasks run, it must
 * stop claiming rather than pile finished tasks up in memory: the tasks it has
 * taken but not yet recorded stay within about three times its capacity (one in
 * hand, one batch being written, the next gathering).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime, Worker } from "../../src/index.ts";
import type { AttemptOutcome, ClaimRequest } from "../../src/storage/storage.ts";
import { add } from "../fixtures/tasks.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";

// Absent PostgreSQL skips this file on a developer's machine and fails it under CI=true, as in every suite.
const available = await databaseAvailable("postgres");

describe.skipIf(!available)("claiming on PostgreSQL", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
  });

  afterAll(async () => {
    await close();
    await db?.drop();
  });

  it("stops claiming while outcomes wait to be written, and records every task", async () => {
    configure({ database: db.url, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const storage = (await getRuntime()).storage();
    await storage.migrate();
    await add.enqueueMany(Array.from({ length: 300 }, (_, i) => [i, 1] as [number, number]));

    // The real database, made slow to record outcomes: every outcome write waits 40 ms first.
    const write = storage.taskFinishAttempts.bind(storage);
    storage.taskFinishAttempts = async (outcomes: AttemptOutcome[]) => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      return write(outcomes);
    };
    let started = 0;
    let recorded = 0;
    let mostUnrecorded = 0;
    const concurrency = 2;
    const prefetch = 8;
    const worker = new Worker({
      concurrency,
      prefetch,
      onTaskStart: () => {
        started++;
        mostUnrecorded = Math.max(mostUnrecorded, started - recorded);
      },
      onTaskFinish: () => recorded++,
    });
    const summary = await worker.run();

    expect(summary.succeeded).toBe(300);
    expect(await storage.taskCountPending({ backendName: "default", now: new Date() })).toBe(0);
    // Started but not yet recorded: at most the capacity in flight plus two capacities of unwritten outcomes.
    const capacity = concurrency + prefetch;
    expect(mostUnrecorded).toBeLessThanOrEqual(3 * capacity + 1);
    expect(mostUnrecorded).toBeGreaterThan(2 * capacity); // the writer really was behind
  });

  it("claims its slots' worth first when idle, then up to its prefetch", async () => {
    configure({ database: db.url, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const storage = (await getRuntime()).storage();
    await storage.migrate();
    await add.enqueueMany(Array.from({ length: 100 }, (_, i) => [i, 1] as [number, number]));

    const limits: number[] = [];
    const claim = storage.taskClaim.bind(storage);
    storage.taskClaim = (request: ClaimRequest) => {
      limits.push(request.limit);
      return claim(request);
    };
    const summary = await new Worker({ concurrency: 3, prefetch: 40 }).run();

    expect(summary.succeeded).toBe(100);
    expect(limits[0]).toBe(3);
    expect(Math.max(...limits.slice(1))).toBeGreaterThan(3);
    expect(Math.max(...limits)).toBeLessThanOrEqual(43);
  });

  it("keeps claiming up to its prefetch while the queue is full, even when every task ends before it looks again", async () => {
    configure({ database: db.url, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const storage = (await getRuntime()).storage();
    await storage.migrate();
    await add.enqueueMany(Array.from({ length: 600 }, (_, i) => [i, 1] as [number, number]));

    // `add` returns at once: by the time the worker looks for more, the claimed tasks are done and
    // it holds nothing. A full claim means more is due: it must not fall back to a slotful at a time.
    const limits: number[] = [];
    const claim = storage.taskClaim.bind(storage);
    storage.taskClaim = (request: ClaimRequest) => {
      limits.push(request.limit);
      return claim(request);
    };
    const summary = await new Worker({ concurrency: 2, prefetch: 100 }).run();

    expect(summary.succeeded).toBe(600);
    // A slotful first; then the whole room each time until the queue runs short, and only then a slotful again.
    expect(limits[0]).toBe(2);
    const smallAgain = limits.indexOf(2, 1);
    expect(smallAgain).toBeGreaterThan(5);
    expect(limits.slice(1, smallAgain).every((limit) => limit > 2)).toBe(true);
    expect(limits.slice(smallAgain).every((limit) => limit === 2)).toBe(true);
  });
});
