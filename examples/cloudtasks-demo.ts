/**
 * `npm run demo:cloudtasks`: the whole Cloud Tasks flow on one machine.
 * Starts the local Cloud Tasks emulator and the task handler (what
 * `database-task serve` runs), enqueues tasks through the `cloudtasks`
 * backend, and prints what happened: the row is stored, a Cloud Task carrying
 * only its id is created, the emulator POSTs to /tasks/execute/<id>/ with an
 * OIDC token, the handler verifies it and runs the task; a failure answers 500
 * and the emulator retries it.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { close, configure, migrate, task, type TaskResult } from "../src/index.ts";
import { cloudTaskId, startEmulator, type CloudTasksDatabaseBackend } from "../src/cloudtasks/index.ts";
import { startServer } from "../src/http/index.ts";
import { getBackend } from "../src/index.ts";

const INVOKER = "cloud-tasks-invoker@demo-project.iam.gserviceaccount.com";
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const greet = task(function greet(name: string) {
  return `Hello, ${name}!`;
});
let failuresLeft = 2;
const flaky = task(function flakyCharge(amount: number) {
  if (failuresLeft-- > 0) throw new Error("payment gateway timed out");
  return { charged: amount };
});

const emulator = await startEmulator();
const server = await startServer({ port: 0, host: "127.0.0.1", handleSignals: false, logger: quiet });
const database = `sqlite://${path.join(mkdtempSync(path.join(tmpdir(), "database-task-demo-")), "demo.sqlite3")}`;
configure({
  database,
  backends: {
    default: {
      backend: "cloudtasks",
      options: {
        project: "demo-project",
        location: "us-central1",
        handlerUrl: `${server.url}/tasks/execute/{task_id}/`,
        serviceAccountEmail: INVOKER,
        oidcCertsUrl: emulator.certsUrl, // trust the emulator's signing key: local only
        emulatorHost: emulator.grpcAddress,
      },
    },
  },
  logger: quiet,
});
await migrate();

console.log(`Cloud Tasks emulator on ${emulator.grpcAddress}, handler on ${server.url}, database ${database}\n`);
const backend = (await getBackend()) as CloudTasksDatabaseBackend;
const client = backend.client();
await client.createQueue({
  parent: client.locationPath("demo-project", "us-central1"),
  queue: { name: client.queuePath("demo-project", "us-central1", "default"), retryConfig: { maxAttempts: 5, minBackoff: { nanos: 200e6 } } },
});

const results: TaskResult[] = [await greet.enqueue("Ada"), await flaky.enqueue(4200)];
for (const result of results) console.log(`enqueued ${result.taskName} ${result.id}`);

// A FAILED task is not final here: Cloud Tasks delivers it again. Wait for the emulator to be done with each.
for (const result of results) {
  await emulator.waitForTask(client.taskPath("demo-project", "us-central1", "default", cloudTaskId(result.id, 0)), { timeoutMs: 20_000 });
  await result.refresh();
}

console.log("\nDeliveries made by the emulator:");
for (const attempt of emulator.attempts()) {
  console.log(`  ${attempt.method} ${attempt.url.replace(server.url, "")} -> HTTP ${attempt.httpStatus} (attempt ${attempt.attempt}, OIDC token ${Object.keys(attempt.headers).some((h) => h.toLowerCase() === "authorization") ? "sent" : "missing"})`);
}
console.log("\nResults:");
for (const r of results) {
  console.log(`  ${r.taskName.padEnd(12)} ${r.status.padEnd(10)} attempts=${r.attempts} ${JSON.stringify(r.returnValue)} errors=${r.errors.length}`);
}
await server.stop(1000);
await emulator.stop();
await close();
