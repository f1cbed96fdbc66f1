/**
 * Bad input on the command line: fast-check builds argument lists for every
 * command, mixing valid options and values with invalid ones (unknown options,
 * missing or malformed values, `--opt=value` forms, stray arguments, odd
 * strings), and runs the real CLI on a seeded SQLite database. Whatever the
 * input: no stack trace, exit status 0, 1 or 2 only (2: one line saying what
 * was refused), and no task changed that the command had no business changing
 * (a dry run or a refused command changes nothing; purge deletes only what it
 * says it targets; a worker runs only due READY tasks of its backend).
 *
 * Each command has its own database and runs concurrently with the others;
 * spawning processes is slow, so the number of runs is small and fixed.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createStorage } from "../../src/storage/connect.ts";
import type { SqlStorage } from "../../src/storage/sql-storage.ts";
import { TASK_TABLE, type NewTask } from "../../src/storage/storage.ts";
import { startCli, type CliResult } from "../helpers/cli.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeProject } from "../helpers/project.ts";

const DAY = 86_400_000;

type Row = Record<string, unknown> & { id: string; status: string; backend_name: string; finished_at: number | null };
type Snapshot = Map<string, Row>;

interface Run extends CliResult {
  args: string[];
  /** A continuous worker, stopped with SIGTERM once it had gone idle. */
  stoppedWhenIdle: boolean;
  timedOut: boolean;
}

const children = new Set<ReturnType<typeof startCli>>();

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all([...children].map((c) => c.result));
});

/**
 * Runs the CLI. A continuous worker gets SIGTERM once idle (it prints a dot
 * each time it finds nothing to do); anything still running after `timeoutMs`
 * gets SIGTERM, then SIGKILL.
 */
async function run(args: string[], cwd: string, timeoutMs = 20_000): Promise<Run> {
  const child = startCli(args, { cwd, env: { RUN_LOG: path.join(cwd, "runs.log") } });
  children.add(child);
  let stdout = "";
  let stoppedWhenIdle = false;
  let timedOut = false;
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk;
    if (!stoppedWhenIdle && /\n\./.test(stdout)) {
      stoppedWhenIdle = true;
      child.kill("SIGTERM");
    }
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  }, timeoutMs);
  const result = await child.result;
  clearTimeout(timer);
  children.delete(child);
  return { ...result, args, stoppedWhenIdle, timedOut };
}

/** Four READY tasks (two due on the default backend), one RUNNING under a live lease, and finished tasks of several ages. */
async function seed(storage: SqlStorage): Promise<void> {
  const knex = storage.knex;
  await knex(TASK_TABLE).delete();
  const now = Date.now();
  const task = (over: Partial<NewTask> = {}): NewTask => ({
    id: randomUUID(),
    taskName: "fixtures.add",
    queueName: "default",
    backendName: "default",
    priority: 0,
    args: [1, 2],
    runAfter: null,
    enqueuedAt: new Date(now - 60_000),
    maxAttempts: 1,
    ...over,
  });
  const ready = [task(), task({ queueName: "other-q", args: [3, 4] }), task({ runAfter: new Date(now + DAY) }), task({ backendName: "other" })];
  const running = task();
  const finished: Array<[NewTask, "SUCCESSFUL" | "FAILED", number]> = [
    [task(), "SUCCESSFUL", 0],
    [task(), "SUCCESSFUL", 10],
    [task(), "SUCCESSFUL", 100],
    [task(), "FAILED", 0],
    [task(), "FAILED", 10],
    [task(), "FAILED", 100],
    [task({ backendName: "other" }), "SUCCESSFUL", 100],
  ];
  await storage.taskInsertMany([...ready, running, ...finished.map(([t]) => t)]);
  // SQLite stores times as epoch milliseconds.
  await knex(TASK_TABLE)
    .where({ id: running.id })
    .update({ status: "RUNNING", attempts: 1, worker_ids: '["fuzz-elsewhere"]', started_at: now, last_attempted_at: now, locked_until: now + 3_600_000 });
  for (const [t, status, days] of finished) {
    const at = now - days * DAY - 60_000;
    await knex(TASK_TABLE)
      .where({ id: t.id })
      .update({
        status,
        attempts: 1,
        worker_ids: '["fuzz-old"]',
        started_at: at,
        last_attempted_at: at,
        finished_at: at,
        return_value: status === "SUCCESSFUL" ? "3" : null,
        errors: status === "FAILED" ? '[{"errorClass":"Error","message":"x","stack":""}]' : "[]",
      });
  }
}

async function snapshot(storage: SqlStorage): Promise<Snapshot> {
  const rows = (await storage.knex(TASK_TABLE).select("*").orderBy("id")) as Row[];
  return new Map(rows.map((row) => [row.id, row]));
}

function changed(before: Snapshot, after: Snapshot): { removed: Row[]; modified: Array<[Row, Row]>; added: Row[] } {
  const removed: Row[] = [];
  const modified: Array<[Row, Row]> = [];
  for (const [id, row] of before) {
    const now = after.get(id);
    if (!now) removed.push(row);
    else if (JSON.stringify(now) !== JSON.stringify(row)) modified.push([row, now]);
  }
  const added = [...after.values()].filter((row) => !before.has(row.id));
  return { removed, modified, added };
}

// ---- argument generators -------------------------------------------------

const junk: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "-1",
    "0",
    "1.5",
    "abc",
    "1e309",
    "1e10",
    "NaN",
    "Infinity",
    "-0",
    "0x10",
    "--",
    "-",
    "--help",
    "💥",
    "'; DROP TABLE database_task; --",
    "9".repeat(40),
    "null",
    "SUCCESSFUL,,",
    "%s%n",
    "../../etc/passwd",
  ),
  fc.string({ maxLength: 12 }).filter((s) => !s.includes("\u0000")),
);

/** An option's values: the valid ones, and in mixed runs junk too. */
interface Values {
  valid: string[];
}
const value = (...valid: string[]): Values => ({ valid });

/** `--flag value`, `--flag=value`, or (mixed runs) `--flag` with its value missing; boolean flags as they are. */
function option(flag: string, values: Values | null, mixed: boolean): fc.Arbitrary<string[]> {
  if (values === null) return fc.constant<string[]>([flag]);
  const v = mixed ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...values.valid) }, { weight: 1, arbitrary: junk }) : fc.constantFrom(...values.valid);
  const forms = [
    { weight: 4, arbitrary: v.map((x) => [flag, x]) },
    { weight: 1, arbitrary: v.map((x) => [`${flag}=${x}`]) },
  ];
  return mixed ? fc.oneof(...forms, { weight: 1, arbitrary: fc.constant<string[]>([flag]) }) : fc.oneof(...forms);
}

const invalid: fc.Arbitrary<string[]> = fc.constantFrom(["--bogus"], ["-x"], ["extra"], ["--"], ["--no-such=1"], ["-"], ["--Dry-Run"]);

type OptionSpec = [flag: string, values: Values | null];

/** Three runs in five use valid options only (so commands really run); the others mix in junk and invalid pieces. */
function argLists(command: string, options: OptionSpec[], configPath: string): fc.Arbitrary<string[]> {
  const globals = fc.oneof(
    { weight: 6, arbitrary: fc.constant<string[]>([]) },
    { weight: 1, arbitrary: fc.constantFrom(["--config", configPath], ["-c", "database-task.config.mjs"], ["--config=" + configPath]) },
    { weight: 1, arbitrary: fc.constantFrom(["--config", "missing.config.mjs"], ["--config"], ["-c", ""]) },
  );
  const list = (mixed: boolean) => {
    const pieces = options.map(([flag, values]) => option(flag, values, mixed));
    const piece = pieces.length === 0 ? invalid : mixed ? fc.oneof({ weight: 3, arbitrary: fc.oneof(...pieces) }, { weight: 1, arbitrary: invalid }) : fc.oneof(...pieces);
    return fc
      .tuple(globals, fc.array(piece, { maxLength: pieces.length === 0 && !mixed ? 0 : 4 }))
      .map(([prefix, groups]) => [...prefix, command, ...groups.flat()]);
  };
  return fc.oneof({ weight: 3, arbitrary: list(false) }, { weight: 2, arbitrary: list(true) });
}

// ---- what each command may change ----------------------------------------

/** Checks that hold for every command and input. */
function common(result: Run, before: Snapshot, after: Snapshot): void {
  const context = JSON.stringify(result.args);
  expect(result.stdout + result.stderr, context).not.toContain("\n    at ");
  expect(result.stderr, context).not.toMatch(/\(node:\d+\) \w*Warning/);
  expect(result.timedOut, `${context} did not finish`).toBe(false);
  expect(result.signal, context).toBeNull();
  expect([0, 1, 2], `${context} exited ${result.code}: ${result.stderr}`).toContain(result.code);
  if (result.code === 2) {
    expect(changed(before, after), `${context} was refused, yet changed tasks`).toEqual({ removed: [], modified: [], added: [] });
    // Refused input is one line on stderr, ending with the hint to run --help; options
    // without a command (`--config worker`: the command taken as the path) get the help instead.
    if (!result.stderr.startsWith("Usage: database-task [options] [command]\n")) {
      expect(result.stderr, context).toMatch(/^error: [^\n]+ \(run with --help for usage\)\n$/);
    }
  }
  expect(changed(before, after).added, context).toEqual([]);
}

function unchanged(result: Run, before: Snapshot, after: Snapshot): void {
  expect(changed(before, after), `${JSON.stringify(result.args)} changed tasks`).toEqual({ removed: [], modified: [], added: [] });
}

function checkPurge(result: Run, before: Snapshot, after: Snapshot): void {
  const context = JSON.stringify(result.args);
  const { removed, modified } = changed(before, after);
  expect(modified, context).toEqual([]);
  if (result.code !== 0 || result.args.includes("--dry-run") || result.stdout.includes("Dry run mode")) {
    expect(removed, `${context} deleted tasks`).toEqual([]);
    return;
  }
  if (removed.length === 0) return;
  // Deleted only what it announced: the statuses it printed, finished before the cutoff it printed.
  const targets = /^Target statuses: (.*)$/m.exec(result.stdout)?.[1].split(", ") ?? [];
  const cutoff = /^Cutoff date: (.*)$/m.exec(result.stdout)?.[1];
  for (const row of removed) {
    expect(targets, context).toContain(row.status);
    if (cutoff) expect(Number(row.finished_at), context).toBeLessThan(Date.parse(cutoff));
  }
  expect(result.stdout, context).toContain(`Successfully deleted ${removed.length} tasks`);
}

function checkWorker(result: Run, before: Snapshot, after: Snapshot): void {
  const context = JSON.stringify(result.args);
  if (result.stoppedWhenIdle) {
    // Only a continuous worker waits when idle; SIGTERM then stops it cleanly.
    expect(result.args, context).toContain("--continuous");
    expect(result.code, `${context} on SIGTERM: ${result.stderr}`).toBe(0);
  }
  const { removed, modified } = changed(before, after);
  expect(removed, context).toEqual([]);
  const now = Date.now();
  for (const [was, is] of modified) {
    // Only due READY tasks of the configured backend may run, and a fixture `add` succeeds.
    expect({ status: was.status, backend: was.backend_name, due: Number(was.available_at) <= now }, context).toEqual({
      status: "READY",
      backend: "default",
      due: true,
    });
    expect({ status: is.status, attempts: Number(is.attempts) }, context).toEqual({ status: "SUCCESSFUL", attempts: 1 });
  }
  const processed = /Total tasks processed: (\d+)/.exec(result.stdout);
  if (processed) expect(modified.length, context).toBe(Number(processed[1]));
}

function checkStatus(result: Run, before: Snapshot, after: Snapshot): void {
  unchanged(result, before, after);
  const hasHelp = result.args.some((a) => a === "--help" || a === "-h");
  if (result.code === 0 && !hasHelp) {
    const count = /^(?:Pending tasks: (\d+)|\{"pending_count":(\d+)\})\n$/.exec(result.stdout);
    expect(count, `${JSON.stringify(result.args)}: ${result.stdout}`).not.toBeNull();
    expect(Number(count![1] ?? count![2])).toBeLessThanOrEqual(2);
  }
}

function checkMigrate(result: Run, before: Snapshot, after: Snapshot): void {
  unchanged(result, before, after);
  const hasHelp = result.args.some((a) => a === "--help" || a === "-h");
  if (result.code === 0 && !hasHelp) expect(result.stdout).toBe("Database is up to date.\n");
}

interface Case {
  command: string;
  runs: number;
  options: OptionSpec[];
  /** Run first; they count in `runs`. */
  examples: string[][];
  check(result: Run, before: Snapshot, after: Snapshot): void;
}

// 1e10 s: more than a timer holds (Node would fire it after 1 ms).
const seconds = value("0.1", "0.5", "1", "2.5", "1e10");
const cases: Case[] = [
  {
    command: "worker",
    runs: 12,
    options: [
      ["--queue", value("default", "other-q", "nope")],
      ["--backend", value("default", "other")],
      ["--continuous", null],
      ["--interval", seconds],
      ["--max-tasks", value("0", "1", "2", "5")],
      ["--concurrency", value("1", "2", "4", "1000", "1001")],
      ["--prefetch", value("0", "3", "10000")],
      ["--grace-period", seconds],
    ],
    examples: [
      ["worker", "--continuous", "--interval", "1e10"],
      ["worker", "--continuous", "--grace-period", "1e10", "--queue", "other-q"],
    ],
    check: checkWorker,
  },
  {
    command: "purge",
    runs: 12,
    options: [
      ["--days", value("0", "1", "5", "30", "-1")],
      ["--status", value("SUCCESSFUL", "FAILED", "successful, failed", " SUCCESSFUL ", "READY", "RUNNING,READY", "FAILED,BOGUS", "")],
      ["--batch-size", value("1", "2", "1000", "0", "100001")],
      // Twice: dry runs are what must delete nothing.
      ["--dry-run", null],
      ["--dry-run", null],
      ["--backend", value("default", "other", "nope")],
    ],
    examples: [["purge", "--dry-run"], ["purge", "--days", "5", "--status", " failed "]],
    check: checkPurge,
  },
  {
    command: "status",
    runs: 7,
    options: [["--queue", value("default", "other-q", "nope")], ["--backend", value("default", "other")], ["--json", null]],
    examples: [["status", "--json"]],
    check: checkStatus,
  },
  { command: "migrate", runs: 5, options: [], examples: [["migrate"]], check: checkMigrate },
  {
    // No Cloud Tasks backend is configured: dispatch has nothing to hand over, whatever it is told.
    command: "dispatch",
    runs: 6,
    options: [["--backend", value("default", "other")], ["--older-than", seconds], ["--limit", value("1", "1000", "0", "100001")]],
    examples: [["dispatch"], ["dispatch", "--backend", "default"]],
    check: unchanged,
  },
  {
    // No Cloud Tasks backend, and the RUNNING task's lease is live: the pass has nothing to change, whatever it is told.
    command: "maintain",
    runs: 6,
    options: [["--backend", value("default", "nope")], ["--limit", value("1", "500", "0", "10001")], ["--time-budget", seconds]],
    examples: [["maintain"], ["maintain", "--backend", "default"], ["maintain", "--limit", "0"]],
    check: unchanged,
  },
];

describe.concurrent("CLI fuzz: no stack trace, exit 0/1/2, no unwanted changes", () => {
  for (const c of cases) {
    it(`${c.command}: ${c.runs} argument lists (${c.examples.length} of them fixed examples)`, async () => {
      const db: TestDatabase = await createTestDatabase("sqlite");
      const project = makeProject(db.url);
      const storage = createStorage(db.url);
      try {
        await storage.migrate();
        const configPath = path.join(project.dir, "database-task.config.mjs");
        await fc.assert(
          fc.asyncProperty(argLists(c.command, c.options, configPath), async (args) => {
            await seed(storage);
            const before = await snapshot(storage);
            const result = await run(args, project.dir);
            const after = await snapshot(storage);
            // FUZZ_DEBUG=1 prints each run: arguments, exit status, rows deleted (-) and changed (~).
            if (process.env.FUZZ_DEBUG) {
              const d = changed(before, after);
              console.log(JSON.stringify(args), result.code, result.stoppedWhenIdle ? "idle" : "", `-${d.removed.length} ~${d.modified.length}`, result.stderr.split("\n")[0].slice(0, 100));
            }
            common(result, before, after);
            c.check(result, before, after);
          }),
          { numRuns: c.runs, endOnFailure: true, examples: c.examples.map((args) => [args] as [string[]]) },
        );
      } finally {
        await storage.close();
        await db.drop();
        project.remove();
      }
    });
  }
});
