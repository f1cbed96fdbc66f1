import { Option, type Command } from "commander";
import { CLAIM_MODES, type ClaimMode } from "../config/config.ts";
import { loadConfig } from "../runtime.ts";
import { Worker } from "../worker/worker.ts";
import { positiveSeconds, pythonFloat, wholeNumber } from "./options.ts";
import { out, type GlobalOptions } from "./io.ts";

interface WorkerCommandOptions {
  queue?: string;
  backend: string;
  continuous?: boolean;
  interval?: number;
  maxTasks: number;
  concurrency?: number;
  prefetch?: number;
  claimMode?: ClaimMode;
  gracePeriod: number;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("Execute tasks queued in the database (django-database-task's run_database_tasks)")
    .option("--queue <name>", "queue name to process (all queues if not given)")
    .option("--backend <name>", "backend name", "default")
    .option("--continuous", "keep polling when there are no tasks (otherwise exit once the queue is drained)")
    .option("--interval <seconds>", "polling interval in seconds when idle (default: 5)", positiveSeconds)
    .option("--max-tasks <n>", "stop after this many tasks (0 = unlimited)", wholeNumber(0), 0)
    .option("--concurrency <n>", "tasks run at once (default: 1, or worker.concurrency in the config)", wholeNumber(1, 1000))
    .option("--prefetch <n>", "tasks claimed ahead of free slots (default: 0, or worker.prefetch in the config)", wholeNumber(0, 10_000))
    .addOption(
      new Option("--claim-mode <mode>", 'how claimed tasks are held: "lease" (default, or worker.claimMode in the config) or "lock" (PostgreSQL)').choices([
        ...CLAIM_MODES,
      ]),
    )
    .option(
      "--grace-period <seconds>",
      "on SIGTERM/SIGINT, how long running tasks may finish before they are put back in the queue",
      positiveSeconds,
      30,
    )
    .addHelpText(
      "after",
      "\nExit status: 0 when every task it ran succeeded (or it was stopped by SIGTERM/SIGINT),\n" +
        "1 when a task failed (without --continuous) or the worker could not run, 2 for bad options.",
    )
    .action(async (options: WorkerCommandOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const runtime = await loadConfig({ configPath: global.config, importTasks: true });
      const interval = options.interval ?? runtime.config.worker?.interval ?? 5;
      const concurrency = options.concurrency ?? runtime.config.worker?.concurrency ?? 1;
      // One task at a time keeps django-database-task's exact lines; with several, outcomes interleave, so they name their task.
      const subject = (id: string) => (concurrency > 1 ? `Task ${id}` : "Task");
      const worker = new Worker({
        backendName: options.backend,
        queueName: options.queue ?? null,
        continuous: options.continuous ?? false,
        interval,
        maxTasks: options.maxTasks,
        concurrency,
        prefetch: options.prefetch,
        claimMode: options.claimMode,
        onTaskStart: (task) => out(`\nProcessing task: ${task.id} (${task.taskName})`),
        onTaskFinish: (result) => {
          const task = subject(result.id);
          const error = result.errors.at(-1)?.message ?? "";
          if (result.status === "SUCCESSFUL") out(`  ${task} completed successfully`);
          else if (result.status === "FAILED") out(`  ${task} failed: ${error}`);
          else out(`  ${task} failed, will retry (attempt ${result.attempts} of ${result.maxAttempts}): ${error}`);
        },
        onIdle: () => process.stdout.write("."),
      });
      out(`Worker ID: ${worker.workerId}`);
      out(`Backend: ${options.backend}`);
      if (options.queue) out(`Queue: ${options.queue}`);
      if (options.continuous) out(`Continuous mode: interval=${pythonFloat(interval)}s`);
      if (options.maxTasks > 0) out(`Max tasks: ${options.maxTasks}`);
      if (concurrency > 1) out(`Concurrency: ${concurrency}`);

      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          process.stderr.write(`\nReceived ${signal} again: exiting now; unfinished tasks return to the queue when their lease expires.\n`);
          process.exit(130);
        }
        process.stderr.write(
          `\nReceived ${signal}: finishing running tasks (at most ${options.gracePeriod} s), then exiting (send it again to exit at once).\n`,
        );
        worker.stop({ graceMs: options.gracePeriod * 1000 });
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      try {
        const summary = await worker.run(runtime);
        if (!worker.stopping && !summary.reachedMaxTasks && !options.continuous) out("No more tasks to process.");
        if (summary.reachedMaxTasks) out(`\nReached max tasks limit: ${options.maxTasks}`);
        if (worker.abandoned > 0) {
          out(`\nGrace period over: ${worker.abandoned} unfinished task${worker.abandoned === 1 ? "" : "s"} put back in the queue`);
        }
        out(`\nTotal tasks processed: ${summary.processed}`);
        if (summary.failed > 0 && !options.continuous && !worker.stopping) process.exitCode = 1;
      } finally {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        await runtime.close();
        // Interrupted task functions may still hold timers; they have been given back, so do not wait for them.
        if (worker.abandoned > 0) process.exit(process.exitCode ?? 0);
      }
    });
}
