import type { Command } from "commander";
import { loadConfig } from "../runtime.ts";
import { out, type GlobalOptions } from "./io.ts";
import { positiveSeconds, wholeNumber } from "./options.ts";

export function registerMaintainCommand(program: Command): void {
  program
    .command("maintain")
    .description("Run the maintenance pass once: recover expired leases, hand undispatched tasks to Cloud Tasks, re-create lost Cloud Tasks (safe to repeat)")
    .option("--backend <name>", "only this Cloud Tasks backend's deliveries (default: all of them)")
    .option("--limit <n>", "at most this many tasks per step and backend", wholeNumber(1, 10_000), 500)
    .option("--time-budget <seconds>", "start no new step after this long", positiveSeconds, 20)
    .addHelpText("after", "\nExit status: 0 when the pass ran without errors, 1 when some Cloud Tasks calls failed (the next pass retries them).")
    .action(async (options: { backend?: string; limit: number; timeBudget: number }, command: Command) => {
      const runtime = await loadConfig({ configPath: command.optsWithGlobals<GlobalOptions>().config });
      try {
        // Loaded here, not at the top: only this command needs it, and it loads the Cloud Tasks backend's code through the config.
        const { maintainTasks } = await import("../maintenance.ts");
        const summary = await maintainTasks({ backendName: options.backend ?? null, limit: options.limit, timeBudgetMs: options.timeBudget * 1000 });
        out(`Recovered ${summary.recovered} task${summary.recovered === 1 ? "" : "s"} whose lease had run out`);
        for (const [name, b] of Object.entries(summary.backends)) {
          out(
            `Backend ${name}: dispatched ${b.dispatched}, confirmed ${b.confirmed}, re-created ${b.recreated}, failed ${b.failed}` +
              (b.errors ? `, ${b.errors} error${b.errors === 1 ? "" : "s"} (retried next pass)` : ""),
          );
          if (b.errors) process.exitCode = 1;
        }
        if (!summary.complete) out("More is waiting (limit or time budget reached): run it again.");
      } finally {
        await runtime.close();
      }
    });
}
