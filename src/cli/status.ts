import type { Command } from "commander";
import { loadConfig } from "../runtime.ts";
import { getPendingTaskCount } from "../worker/api.ts";
import { out, type GlobalOptions } from "./io.ts";

export function registerStatusCommand(program: Command): void {
  program
    .command("status")
    .description("Show how many tasks are due to run (READY, runAfter reached)")
    .option("--queue <name>", "only this queue")
    .option("--backend <name>", "backend name", "default")
    .option("--json", 'print {"pending_count": n}, as GET /status/ answers')
    .action(async (options: { queue?: string; backend: string; json?: boolean }, command: Command) => {
      const runtime = await loadConfig({ configPath: command.optsWithGlobals<GlobalOptions>().config });
      try {
        const count = await getPendingTaskCount({ queueName: options.queue, backendName: options.backend });
        out(options.json ? JSON.stringify({ pending_count: count }) : `Pending tasks: ${count}`);
      } finally {
        await runtime.close();
      }
    });
}
