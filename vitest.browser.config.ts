import { defineConfig } from "vitest/config";

// Headless Chromium suites: separate from `vitest run`, since they need /usr/bin/chromium.
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // One browser at a time: two cores, and Chromium alone uses both.
    maxWorkers: 1,
  },
});
