import type { Command } from "commander";
import { loadConfig } from "../runtime.ts";
import { parsePurgeStatuses, purgeCompletedTasks } from "../worker/api.ts";
import { out, type GlobalOptions } from "./io.ts";
import { wholeNumber } from "./options.ts";
import { UsageError } from "./usage-error.ts";

interface PurgeCommandOptions {
  days: number;
  status: string;
  batchSize: number;
  dryRun?: boolean;
  backend?: string;
}

export function registerPurgeCommand(program: Command): void {
  program
    .command("purge")
    .description("Delete completed task records from the database (django-database-task's purge_completed_database_tasks)")
    .option("--days <n>", "delete tasks finished more than N days ago (0 = all)", wholeNumber(0), 0)
    .option("--status <list>", "target statuses, comma-separated", "SUCCESSFUL,FAILED")
    .option("--batch-size <n>", "tasks deleted per statement", wholeNumber(1, 100_000), 1000)
    .option("--dry-run", "show the count only, delete nothing")
    .option("--backend <name>", "only this backend's tasks (default: every backend)")
    .action(async (options: PurgeCommandOptions, command: Command) => {
      const statuses = parsePurgeStatuses(options.status);
      if (statuses.length === 0) throw new UsageError(`No valid statuses specified in --status "${options.status}"; use SUCCESSFUL and/or FAILED.`);
      const runtime = await loadConfig({ configPath: command.optsWithGlobals<GlobalOptions>().config });
      try {
        out(`Target statuses: ${statuses.join(", ")}`);
        if (options.days > 0) out(`Cutoff date: ${new Date(Date.now() - options.days * 86_400_000).toISOString()}`);
        const result = await purgeCompletedTasks({
          days: options.days,
          statuses,
          batchSize: options.batchSize,
          dryRun: options.dryRun ?? false,
          backendName: options.backend,
          onCount: (total) => out(`Found ${total} tasks to delete`),
          onBatch: (deleted, total) => out(`Deleted ${deleted}/${total} tasks...`),
        });
        if (result.dryRun) out("Dry run mode - no tasks deleted");
        else if (result.count === 0) out("No tasks to delete");
        else out(`Successfully deleted ${result.deleted} tasks`);
      } finally {
        await runtime.close();
      }
    });
}
