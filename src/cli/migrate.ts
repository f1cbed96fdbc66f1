import type { Command } from "commander";
import { loadConfig } from "../runtime.ts";
import { out, type GlobalOptions } from "./io.ts";

export function registerMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("Create or update the task table (safe to run from several processes at once)")
    .action(async (_options: unknown, command: Command) => {
      const runtime = await loadConfig({ configPath: command.optsWithGlobals<GlobalOptions>().config });
      try {
        const applied = await runtime.storage().migrate();
        out(applied.length ? `Applied migrations: ${applied.join(", ")}` : "Database is up to date.");
      } finally {
        await runtime.close();
      }
    });
}
