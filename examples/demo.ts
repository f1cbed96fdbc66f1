/**
 * `npm run demo`: defines sample tasks, enqueues them into the embedded SQLite
 * database, runs a real worker process (the CLI) to drain them, and prints
 * what each task did.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { close, loadConfig, migrate } from "../src/index.ts";
import { add, chargeCard, report, sendWelcomeEmail } from "./tasks.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const configPath = path.join(here, "database-task.config.ts");

await loadConfig({ configPath });
await migrate();

const enqueued = [
  await add.enqueue(2, 3),
  await sendWelcomeEmail.enqueue(42, "ada@example.com"),
  await report.using({ priority: -10 }).enqueue("nightly"),
  await chargeCard.enqueue(-5),
  ...(await add.enqueueMany([[10, 20], [30, 40]])),
];
console.log(`Enqueued ${enqueued.length} tasks into ${path.resolve("database-task.sqlite3")}\n`);

console.log("$ database-task worker --config examples/database-task.config.ts");
const worker = spawnSync(process.execPath, [path.join(here, "../src/cli/main.ts"), "--config", configPath, "worker"], {
  stdio: "inherit",
});
console.log(`(worker exit status ${worker.status}${worker.status === 1 ? ": a task failed, as chargeCard(-5) is meant to" : ""})\n`);

console.log("Results:");
for (const result of enqueued) {
  await result.refresh();
  const outcome = result.status === "SUCCESSFUL" ? JSON.stringify(result.returnValue) : result.errors.at(-1)?.message;
  console.log(`  ${result.taskName.padEnd(17)} ${result.status.padEnd(10)} attempts=${result.attempts}  ${outcome}`);
}
await close();
