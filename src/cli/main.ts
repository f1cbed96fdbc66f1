#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { DatabaseTaskError, debugEnabled, describeError, errorMessage } from "../errors.ts";
import { registerDispatchCommand } from "./dispatch.ts";
import { registerEmulatorCommand } from "./emulator.ts";
import { registerMaintainCommand } from "./maintain.ts";
import { registerMigrateCommand } from "./migrate.ts";
import { registerPurgeCommand } from "./purge.ts";
import { registerServeCommand } from "./serve.ts";
import { registerStatusCommand } from "./status.ts";
import { registerWorkerCommand } from "./worker.ts";
import { UsageError } from "./usage-error.ts";

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function packageVersion(): string {
  // package.json sits two levels up from both src/cli/ and dist/cli/.
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

const USAGE_HINT = "(run with --help for usage)";

/** A refusal of bad command-line input as the one line printed: the message, then the hint to run --help. */
function usageLine(message: string): string {
  return `${message.trim().split(/\s*\n\s*/).join(" ")} ${USAGE_HINT}\n`;
}

export function buildProgram(): Command {
  const program = new Command("database-task")
    .description("A task queue that keeps its tasks in your SQL database.")
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .option("-c, --config <path>", "config file (default: database-task.config.{ts,mts,js,mjs} in the working directory)")
    // Refused input is one line: commander's message (a "Did you mean ...?" kept on it), then the hint.
    .configureOutput({ outputError: (text, write) => write(usageLine(text)) })
    .exitOverride();
  registerMigrateCommand(program);
  registerWorkerCommand(program);
  registerPurgeCommand(program);
  registerStatusCommand(program);
  registerEmulatorCommand(program);
  registerServeCommand(program);
  registerDispatchCommand(program);
  registerMaintainCommand(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      process.exitCode = EXIT_USAGE;
      return;
    }
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander has already printed its one line (usageLine) for the rest.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    if (error instanceof UsageError) {
      process.stderr.write(usageLine(`error: ${error.message}`));
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`error: ${errorMessage(error)}\n`);
    if (debugEnabled() && error instanceof Error && !(error instanceof DatabaseTaskError)) {
      // The frames only: the stack's first line repeats the message, which for a driver error starts with knex's SQL.
      process.stderr.write(`${describeError(error, { stack: true })}\n`);
    }
    process.exitCode = EXIT_FAILURE;
  }
}

await main();
