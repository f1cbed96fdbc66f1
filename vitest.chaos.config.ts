import { defineConfig } from "vitest/config";

/**
 * The fault-injection suite (`npm run test:chaos`): real worker processes
 * SIGKILLed, database connections cut, the Cloud Tasks emulator stopped.
 * One file at a time: the tests measure drains and recovery times, and two
 * cores shared between files would only slow each other down.
 */
export default defineConfig({
  test: {
    include: ["test/chaos/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    // Figures are printed with console.log; keep them in the output.
    silent: false,
  },
});
