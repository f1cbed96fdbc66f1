import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { close, configure, getRuntime } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { add, failing, logRun, record, stubborn } from "../fixtures/tasks.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { makeProject } from "../helpers/project.ts";

let project: { dir: string; remove(): void };
let dbFile: string;
const cli = (...args: string[]) => runCli(args, { cwd: project.dir });

beforeAll(async () => {
  const dbDir = mkdtempSync(path.join(tmpdir(), "database-task-cli-"));
  dbFile = path.join(dbDir, "cli.sqlite3");
  project = makeProject(`sqlite://${dbFile}`);
  configure({ database: `sqlite://${dbFile}`, logger: { debug() {}, info() {}, warn() {}, error() {} } });
  const migrated = await cli("migrate");
  expect(migrated.stdout).toBe("Applied migrations: 0001_create_task_table, 0002_notify_on_insert, 0003_dispatch_marker, 0004_leaner_indexes, 0005_dispatch_generation\n");
  expect(migrated.code).toBe(0);
});

beforeEach(async () => {
  await (await getRuntime()).storage().knex(TASK_TABLE).delete();
});

afterAll(async () => {
  await close();
  project.remove();
  rmSync(path.dirname(dbFile), { recursive: true, force: true });
});

describe("database-task CLI", () => {
  it("--help lists the commands and exits 0; no command prints help and exits 2", async () => {
    const help = await cli("--help");
    expect(help.code).toBe(0);
    for (const command of ["migrate", "worker", "purge", "status"]) expect(help.stdout).toContain(command);
    const workerHelp = await cli("worker", "--help");
    for (const option of ["--queue", "--backend", "--continuous", "--interval", "--max-tasks", "--concurrency"]) {
      expect(workerHelp.stdout).toContain(option);
    }
    const none = await cli();
    expect(none.code).toBe(2);
    const version = await cli("--version");
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("migrate again has nothing to do", async () => {
    expect((await cli("migrate")).stdout).toBe("Database is up to date.\n");
  });

  it.each([
    [["worker", "--bogus"], "unknown option '--bogus'"],
    [["worker", "--interval", "-1"], "must be a number of seconds > 0"],
    [["worker", "--interval", "abc"], "must be a number of seconds > 0"],
    [["worker", "--max-tasks", "1.5"], "must be a whole number"],
    [["worker", "--concurrency", "0"], "must be at least 1"],
    [["purge", "--days", "-1"], "must be 0 or more"],
    [["purge", "--batch-size", "0"], "must be at least 1"],
    [["purge", "--status", "READY,RUNNING"], 'No valid statuses specified in --status "READY,RUNNING"'],
    [["frobnicate"], "unknown command 'frobnicate'"],
    [["wroker"], "unknown command 'wroker' (Did you mean worker?)"],
    [["worker", "--concurency", "2"], "unknown option '--concurency' (Did you mean --concurrency?)"],
  ])("%j: one clear line, exit 2, no stack trace", async (args, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    // Exactly one line: the message, then the hint on the same line.
    expect(result.stderr).toMatch(/^error: [^\n]+ \(run with --help for usage\)\n$/);
    expect(result.stderr).toContain(message);
  });

  it("prints a bad option as one line with the hint, as the README shows", async () => {
    const result = await cli("purge", "--days", "-1");
    expect(result).toMatchObject({ code: 2, stdout: "" });
    expect(result.stderr).toBe("error: option '--days <n>' argument '-1' is invalid. must be 0 or more. (run with --help for usage)\n");
  });

  it("a missing or broken config file is one line and exit 1", async () => {
    const missing = await cli("--config", "nope.config.ts", "status");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: Config file not found: .*nope\.config\.ts\n$/);
    const broken = path.join(project.dir, "broken.config.mjs");
    writeFileSync(broken, "export default { databse: 'x' };\n");
    const typo = await cli("--config", broken, "status");
    expect(typo.code).toBe(1);
    expect(typo.stderr).toBe('error: Unknown configuration option "databse"; did you mean "database"?\n');
    const badUrl = await runCli(["status"], { cwd: project.dir, env: { DATABASE_URL: "redis://localhost" } });
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toContain('Unsupported database URL scheme "redis:"');
  });

  it("status counts due tasks, as text or as the HTTP endpoint's JSON", async () => {
    await add.enqueueMany([[1, 2], [3, 4]]);
    await add.using({ runAfter: new Date(Date.now() + 3_600_000) }).enqueue(5, 6);
    await add.using({ queueName: "emails" }).enqueue(7, 8);
    expect((await cli("status")).stdout).toBe("Pending tasks: 3\n");
    expect((await cli("status", "--queue", "emails", "--json")).stdout).toBe('{"pending_count":1}\n');
  });

  it("worker drains the queue with django-database-task's output and exits 0", async () => {
    const a = await add.enqueue(1, 2);
    const b = await record.enqueue("x");
    const result = await cli("worker");
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^Worker ID: .+-[0-9a-f]{8}$/);
    expect(lines[1]).toBe("Backend: default");
    expect(result.stdout).toContain(`\nProcessing task: ${a.id} (fixtures.add)\n  Task completed successfully\n`);
    expect(result.stdout).toContain(`\nProcessing task: ${b.id} (fixtures.record)\n  Task completed successfully\n`);
    expect(result.stdout.endsWith("No more tasks to process.\n\nTotal tasks processed: 2\n")).toBe(true);
    expect((await a.refresh()).status).toBe("SUCCESSFUL");
  });

  it("worker exits 1 when a task failed, after running the rest", async () => {
    const bad = await failing.enqueue("nope");
    const good = await add.enqueue(1, 1);
    const result = await cli("worker");
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("  Task failed: nope\n");
    expect(result.stdout).toContain("Total tasks processed: 2");
    expect((await bad.refresh()).status).toBe("FAILED");
    expect((await good.refresh()).status).toBe("SUCCESSFUL");
  });

  it("worker honours --queue and --max-tasks", async () => {
    await add.using({ queueName: "emails" }).enqueueMany([[1, 1], [2, 2], [3, 3]]);
    const other = await add.enqueue(9, 9);
    const result = await cli("worker", "--queue", "emails", "--max-tasks", "2");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Queue: emails\nMax tasks: 2\n");
    expect(result.stdout).toContain("\nReached max tasks limit: 2\n\nTotal tasks processed: 2\n");
    expect((await other.refresh()).status).toBe("READY");
  });

  it("a continuous worker stops on SIGTERM after its running task ends, and exits 0", async () => {
    const worker = startCli(["worker", "--continuous", "--interval", "0.2"], {
      cwd: project.dir,
      env: { RUN_LOG: path.join(project.dir, "sigterm.log") },
    });
    const slow = await logRun.enqueue(1500);
    // Wait until the worker has started the task.
    const deadline = Date.now() + 20_000;
    while ((await slow.refresh()).status !== "RUNNING") {
      if (Date.now() > deadline) throw new Error("task never started");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    worker.kill("SIGTERM");
    const result = await worker.result;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Continuous mode: interval=0.2s");
    expect(result.stdout).toContain("Total tasks processed: 1");
    expect((await slow.refresh()).status).toBe("SUCCESSFUL");
  });

  it("after the grace period a stopping worker puts unfinished tasks back and exits 0", async () => {
    const worker = startCli(["worker", "--continuous", "--interval", "0.2", "--grace-period", "0.5"], {
      cwd: project.dir,
      env: { RUN_LOG: path.join(project.dir, "grace.log") },
    });
    const stuck = await stubborn.enqueue(60_000);
    const deadline = Date.now() + 20_000;
    while ((await stuck.refresh()).status !== "RUNNING") {
      if (Date.now() > deadline) throw new Error("task never started");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const stoppedAt = Date.now();
    worker.kill("SIGTERM");
    const result = await worker.result;
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Grace period over: 1 unfinished task put back in the queue");
    const givenBack = await stuck.refresh();
    expect(givenBack.status).toBe("READY");
    expect(givenBack.errors[0]).toMatchObject({ errorClass: "WorkerShutdown" });
    // Another worker picks it up (made short so the test stays fast).
    await (await getRuntime()).storage().knex(TASK_TABLE).where({ id: stuck.id }).update({ args: JSON.stringify([10]) });
    const again = await runCli(["worker"], { cwd: project.dir, env: { RUN_LOG: path.join(project.dir, "grace.log") } });
    expect(again.code).toBe(0);
    const done = await stuck.refresh();
    expect(done.status).toBe("SUCCESSFUL");
    expect(done.attempts).toBe(2);
  });

  it("maintain puts back a task whose process died, says so, and is a no-op the second time", async () => {
    const orphan = await add.enqueue(1, 2);
    const storage = (await getRuntime()).storage();
    await storage.taskClaimById({ id: orphan.id, statuses: ["READY"], workerId: "dead-host-1", now: new Date(), lockedUntil: new Date(Date.now() - 1000) });
    const first = await cli("maintain");
    expect(first).toMatchObject({ code: 0, stdout: "Recovered 1 task whose lease had run out\n" });
    expect(first.stderr).toContain(`WARN Recovered task whose worker stopped renewing its lease taskId=${orphan.id}`);
    expect((await orphan.refresh()).status).toBe("READY");
    expect(orphan.errors.map((e) => e.errorClass)).toEqual(["WorkerLost"]);
    expect(await cli("maintain", "--limit", "10", "--time-budget", "5")).toMatchObject({ code: 0, stdout: "Recovered 0 tasks whose lease had run out\n" });
    const refused = await cli("maintain", "--backend", "default");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: Backend "default" has no delivery of its own to maintain (only "cloudtasks" backends do); leave the backend out to recover expired leases alone.\n');
  });

  it("purge prints what it does, honours --dry-run, --status and --batch-size", async () => {
    await add.enqueueMany([[1, 1], [2, 2], [3, 3]]);
    await failing.enqueue("x");
    expect((await cli("worker")).code).toBe(1);
    const pending = await add.enqueue(0, 0);

    const dry = await cli("purge", "--dry-run");
    expect(dry.stdout).toBe("Target statuses: SUCCESSFUL, FAILED\nFound 4 tasks to delete\nDry run mode - no tasks deleted\n");
    const old = await cli("purge", "--days", "3");
    expect(old.stdout).toMatch(/^Target statuses: SUCCESSFUL, FAILED\nCutoff date: \d{4}-\d\d-\d\dT.*Z\nFound 0 tasks to delete\nNo tasks to delete\n$/);
    const failed = await cli("purge", "--status", " failed ,bogus");
    expect(failed.stdout).toBe("Target statuses: FAILED\nFound 1 tasks to delete\nDeleted 1/1 tasks...\nSuccessfully deleted 1 tasks\n");
    const rest = await cli("purge", "--batch-size", "2");
    expect(rest.stdout).toBe(
      "Target statuses: SUCCESSFUL, FAILED\nFound 3 tasks to delete\nDeleted 2/3 tasks...\nDeleted 3/3 tasks...\nSuccessfully deleted 3 tasks\n",
    );
    expect((await pending.refresh()).status).toBe("READY");
  });
});
