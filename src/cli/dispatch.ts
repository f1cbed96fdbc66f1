import type { Command } from "commander";
import { loadConfig } from "../runtime.ts";
import { out, type GlobalOptions } from "./io.ts";
import { positiveSeconds, wholeNumber } from "./options.ts";

export function registerDispatchCommand(program: Command): void {
  program
    .command("dispatch")
    .description("Hand to Cloud Tasks the READY tasks whose Cloud Task was never created (safe to repeat)")
    .option("--backend <name>", "only this Cloud Tasks backend (default: all of them)")
    .option("--older-than <seconds>", "only tasks enqueued at least this long ago", positiveSeconds)
    .option("--limit <n>", "at most this many tasks per backend", wholeNumber(1, 100_000), 1000)
    .addHelpText("after", "\nExit status: 0 when every pending task was dispatched, 1 when some could not be.")
    .action(async (options: { backend?: string; olderThan?: number; limit: number }, command: Command) => {
      // Loaded here, not at the top: Google's client libraries are heavy and only this command needs them.
      const { dispatchPendingTasks } = await import("../cloudtasks/dispatch.ts");
      const runtime = await loadConfig({ configPath: command.optsWithGlobals<GlobalOptions>().config });
      try {
        const summaries = await dispatchPendingTasks({ backendName: options.backend, olderThanSeconds: options.olderThan, limit: options.limit });
        const names = Object.keys(summaries);
        if (names.length === 0) out("No Cloud Tasks backend is configured; nothing to dispatch.");
        for (const name of names) {
          const { dispatched, failed } = summaries[name];
          out(`Backend ${name}: dispatched ${dispatched} task${dispatched === 1 ? "" : "s"}${failed ? `, ${failed} failed (still pending)` : ""}`);
          if (failed) process.exitCode = 1;
        }
      } finally {
        await runtime.close();
      }
    });
}
