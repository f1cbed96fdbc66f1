/**
 * The deployed entry point (App Engine, Cloud Run): `node handler/index.ts`.
 * Reads database-task.config.* from the working directory (or
 * DATABASE_TASK_CONFIG), listens on PORT, drains in-flight requests on SIGTERM.
 * Everything lives in src/ so `database-task serve` runs the very same code.
 * source-layout.js (imported first) sends the task modules' `import ... from
 * "database-task"` to src/ as well: one library, one task registry.
 */
import "../bin/source-layout.js";
import { serveFromEnvironment } from "../src/http/environment.ts";

try {
  const server = await serveFromEnvironment();
  process.stdout.write(`Listening on ${server.url}\n`);
} catch (error) {
  process.stderr.write(`database-task handler: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
