/**
 * How much a worker claims at a time: with nothing in hand, just enough to
 * fill its slots (a small claim is quick, so its slots start working at
 * once), then its prefetch while those run.
 */
import { afterAll, expect, it } from "vitest";
import { close, configure, getRuntime, Worker } from "../../src/index.ts";
import type { ClaimRequest } from "../../src/storage/storage.ts";
import { add } from "../fixtures/tasks.ts";
import { createTestDatabase } from "../helpers/databases.ts";

const db = await createTestDatabase("postgres").catch(() => createTestDatabase("sqlite"));

afterAll(async () => {
  await close();
  await db.drop();
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
