/**
 * Shared by the fault-injection tests: worker processes we start (and always
 * stop), the run log the fixture tasks write, cutting a test database's
 * connections, and printing the figures the README quotes.
 */
import { existsSync, readFileSync } from "node:fs";
import knexFactory, { type Knex } from "knex";
import { afterAll, beforeAll } from "vitest";
import { close, configure, getRuntime } from "../../src/index.ts";
import { startCli, type CliResult } from "../helpers/cli.ts";
import { createTestDatabase, MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, type TestDatabase, type TestDialect } from "../helpers/databases.ts";
import { makeProject } from "../helpers/project.ts";

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The runs of the suites that kill workers or cut their connections: each database in the default claim
 * mode, and PostgreSQL again with `--claim-mode lock`, where a lost batch is rolled back instead of waiting
 * out a lease: its tasks are READY again at once, their attempt uncounted, and every task ends with one
 * attempt, by the worker whose commit recorded it.
 */
export const CLAIM_MODE_RUNS = [
  { dialect: "postgres", claimMode: "lease" },
  { dialect: "mysql", claimMode: "lease" },
  { dialect: "postgres", claimMode: "lock" },
] as const satisfies ReadonlyArray<{ dialect: TestDialect; claimMode: "lease" | "lock" }>;

/** The worker options a run adds: in lock mode it claims ahead, so a lost batch holds several tasks. */
export const claimModeArgs = (claimMode: "lease" | "lock"): string[] => (claimMode === "lock" ? ["--claim-mode", "lock", "--prefetch", "20"] : []);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** One `database-task worker` child process. */
export interface WorkerProcess {
  readonly pid: number;
  /** Resolves with the id it prints on its first line (`Worker ID: <id>`). */
  readonly id: Promise<string>;
  /** Set once the first line has been read. */
  workerId: string | null;
  readonly startedAt: number;
  /** When the id line was read. */
  upAt: number | null;
  exited: boolean;
  readonly result: Promise<CliResult>;
  kill(signal: NodeJS.Signals): void;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
}

/** Every process a test file starts; `stopAll()` (in afterAll) SIGKILLs those still alive, by pid. */
const started = new Set<WorkerProcess>();

export function startWorker(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): WorkerProcess {
  const child = startCli(["worker", ...args], options);
  let stdout = "";
  let stderr = "";
  let resolveId!: (id: string) => void;
  let rejectId!: (error: Error) => void;
  const id = new Promise<string>((resolve, reject) => {
    resolveId = resolve;
    rejectId = reject;
  });
  id.catch(() => undefined);
  const worker: WorkerProcess = {
    pid: child.pid!,
    id,
    workerId: null,
    startedAt: Date.now(),
    upAt: null,
    exited: false,
    result: child.result,
    kill: (signal) => {
      if (!worker.exited) child.kill(signal);
    },
    stdout: () => stdout,
    stderr: () => stderr,
  };
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk;
    if (worker.workerId === null) {
      const match = /^Worker ID: (\S+)\n/.exec(stdout);
      if (match) {
        worker.workerId = match[1];
        worker.upAt = Date.now();
        resolveId(match[1]);
      }
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk));
  started.add(worker);
  void child.result.then(() => {
    worker.exited = true;
    started.delete(worker);
    rejectId(new Error(`worker ${worker.pid} exited before printing its id; stderr: ${stderr}`));
  });
  return worker;
}

/**
 * Resolves once the worker's claim loop runs (it has printed a task or an idle
 * dot after its header), so its SIGTERM handler is installed: the header is
 * written just before, and a signal in between would find the default action.
 */
export function looping(worker: WorkerProcess, timeoutMs = 30_000): Promise<number> {
  return waitFor(`worker ${worker.pid} to start its loop`, () => worker.exited || /\n(?:\.|Processing task)/.test(worker.stdout()), timeoutMs, 20);
}

export async function stopAll(): Promise<void> {
  const alive = [...started];
  for (const worker of alive) worker.kill("SIGKILL");
  await Promise.all(alive.map((w) => w.result));
}

/** The fixture's run log: task id -> ids of the workers that ran its body, in order. */
export function readRuns(file: string): Map<string, string[]> {
  const runs = new Map<string, string[]>();
  if (!existsSync(file)) return runs;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    const [taskId, workerId] = line.split(" ");
    const list = runs.get(taskId);
    if (list) list.push(workerId);
    else runs.set(taskId, [workerId]);
  }
  return runs;
}

/** Counts rows by status. */
export async function statusCounts(knex: Knex, table: string): Promise<Record<string, number>> {
  const rows = await knex(table).select("status").count({ n: "*" }).groupBy("status");
  return Object.fromEntries(rows.map((row: Record<string, unknown>) => [String(row.status), Number(row.n)]));
}

export interface TaskRow {
  id: string;
  status: string;
  attempts: number;
  workerIds: string[];
  errors: Array<{ errorClass: string; message: string }>;
  /** When the last attempt started. */
  lastAttemptedAt: Date | null;
}

export async function taskRows(knex: Knex, table: string, where: Record<string, unknown> = {}): Promise<TaskRow[]> {
  const json = (value: unknown) => (typeof value === "string" ? JSON.parse(value) : value);
  const rows = await knex(table).where(where).select("id", "status", "attempts", "worker_ids", "errors", "last_attempted_at");
  return rows.map((row: Record<string, unknown>) => ({
    id: String(row.id),
    status: String(row.status),
    attempts: Number(row.attempts),
    workerIds: json(row.worker_ids) as string[],
    errors: json(row.errors) as TaskRow["errors"],
    lastAttemptedAt: row.last_attempted_at == null ? null : new Date(row.last_attempted_at as string | number | Date),
  }));
}

/** The worker a WorkerLost entry names ("Attempt N by worker <id> stopped renewing its lease ..."). */
export function lostWorker(error: { errorClass: string; message: string }): string | null {
  if (error.errorClass !== "WorkerLost") return null;
  return /by worker (\S+) stopped renewing/.exec(error.message)?.[1] ?? null;
}

/**
 * Cuts every connection to the test database (the stand-in for a database
 * restart: the servers are shared, so they are not stopped). PostgreSQL:
 * pg_terminate_backend; MariaDB: KILL. Returns how many were cut.
 */
export async function cutConnections(db: TestDatabase): Promise<number> {
  const name = new URL(db.url).pathname.slice(1);
  if (db.dialect === "postgres") {
    const admin = knexFactory({ client: "pg", connection: POSTGRES_ADMIN_URL, pool: { min: 0, max: 1 } });
    try {
      const result = await admin.raw(
        "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()",
        [name],
      );
      return (result.rows as Array<{ cut: boolean }>).filter((r) => r.cut).length;
    } finally {
      await admin.destroy();
    }
  }
  if (db.dialect === "mysql") {
    const admin = knexFactory({ client: "mysql2", connection: { uri: MYSQL_ADMIN_URL }, pool: { min: 0, max: 1 } });
    try {
      const [rows] = await admin.raw("SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()", [name]);
      let cut = 0;
      for (const row of rows as Array<{ id: number }>) {
        // A connection may close between the listing and the KILL.
        await admin.raw(`KILL CONNECTION ${Number(row.id)}`).then(
          () => cut++,
          () => undefined,
        );
      }
      return cut;
    } finally {
      await admin.destroy();
    }
  }
  throw new Error(`cannot cut connections of a ${db.dialect} database`);
}

/** Prints one test's figures on one line, for the lead to quote (docs/reliability.md). */
export function report(name: string, figures: Record<string, string | number | boolean>): void {
  console.log(`[chaos] ${name}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(" ")}`);
}

/** What a chaos test works in: its own database, a project whose config points at it, this process configured for it. */
export interface ChaosSetup {
  db: TestDatabase;
  project: { dir: string; remove(): void };
}

/**
 * Registers the usual beforeAll/afterAll: a fresh database, a project
 * directory with `worker.leaseSeconds`, the schema, and at the end every worker
 * process stopped, the connections closed, the database dropped. Read the
 * returned object's fields inside tests (they are set in beforeAll).
 */
export function useChaosDatabase(dialect: TestDialect, leaseSeconds: number): ChaosSetup {
  const setup = {} as ChaosSetup;
  beforeAll(async () => {
    setup.db = await createTestDatabase(dialect);
    setup.project = makeProject(setup.db.url, `  worker: { leaseSeconds: ${leaseSeconds} },\n`);
    configure({ database: setup.db.url, logger: quiet });
    await (await getRuntime()).storage().migrate();
  });
  afterAll(async () => {
    await stopAll();
    await close();
    await setup.db?.drop();
    setup.project?.remove();
  });
  return setup;
}
