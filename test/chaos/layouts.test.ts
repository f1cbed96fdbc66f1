/**
 * Layouts: one library, one task registry, however the user deploys it (issue 13, point 4).
 *
 * A user's task module in plain JS does `import { task } from "database-task"`; its
 * database-task.config.js lists it in `tasks`. In each layout a worker (`database-task worker`)
 * and a server (`database-task serve`, or `npm start` in the repository) must find that task:
 *
 * - installed: the packed tarball installed into an empty project, run with `npx database-task`;
 * - repo: the repository itself as the deploy template (built dist/ present, then without it),
 *   run with `node bin/database-task.js` and `npm start`: those run src/, which the user's import
 *   of "database-task" must reach too, not dist/;
 * - linked: `npm link` of a checkout, `npm link database-task` in the user's project.
 *
 * One `npm pack` (which builds dist/) serves all three. Asserts on the task rows and the log the
 * task writes, not only exit codes.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime, migrate } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { ROOT } from "../helpers/cli.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase } from "../helpers/databases.ts";
import { quiet } from "./helpers.ts";

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Child {
  readonly pid: number;
  readonly result: Promise<Outcome>;
  closed: boolean;
  output(): string;
}

const NPM = "npm";
const NPX = "npx";

/** Every child this file starts, each the leader of its own process group (npm and npx put a shell between them and node). */
const children = new Set<Child>();
let work: string;
let db: TestDatabase;
/** The copy of the working tree that was packed: it has dist/; the linked layout links it. */
let checkout: string;
let tarball: string;

/** The environment of every child: no npm_* variables of the `npm run` that may have started vitest, a global prefix of our own. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return {
    ...env,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
    DATABASE_URL: "",
    DATABASE_TASK_CONFIG: "",
    npm_config_prefix: path.join(work, "prefix"),
    npm_config_update_notifier: "false",
    npm_config_audit: "false",
    npm_config_fund: "false",
    ...extra,
  };
}

function start(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(command, args, { cwd, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk));
  const handle: Child = {
    pid: child.pid!,
    closed: false,
    // "close" waits for every process holding the pipes, so a server behind npm's shell has exited too.
    result: new Promise<Outcome>((resolve) => {
      child.on("error", (error) => (stderr += String(error)));
      child.on("close", (code, signal) => {
        handle.closed = true;
        children.delete(handle);
        resolve({ code, signal, stdout, stderr });
      });
    }),
    output: () => `$ ${command} ${args.join(" ")} (in ${cwd})\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
  };
  children.add(handle);
  return handle;
}

async function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Outcome & { output: string }> {
  const child = start(command, args, cwd, env);
  const outcome = await child.result;
  return { ...outcome, output: child.output() };
}

async function succeed(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Outcome & { output: string }> {
  const outcome = await run(command, args, cwd, env);
  expect(outcome.code, outcome.output).toBe(0);
  return outcome;
}

/** Copies the working tree's tracked and untracked-but-not-ignored files (uncommitted changes included), with ROOT's node_modules linked in. */
function copyWorkingTree(to: string): string {
  const listed = spawnSync("git", ["-C", ROOT, "ls-files", "-co", "--exclude-standard", "-z"], { encoding: "utf8" });
  expect(listed.status, listed.stderr).toBe(0);
  for (const file of listed.stdout.split("\0")) {
    // Deleted but still tracked; a node_modules symlink git does not ignore (ignored as a directory only).
    if (!file || !existsSync(path.join(ROOT, file)) || file.split("/")[0] === "node_modules") continue;
    mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    cpSync(path.join(ROOT, file), path.join(to, file));
  }
  symlinkSync(path.join(ROOT, "node_modules"), path.join(to, "node_modules"), "dir");
  return to;
}

/** The user's side: a task module importing "database-task", a config listing it, and a script enqueueing it. */
function addUserFiles(dir: string): void {
  writeFileSync(
    path.join(dir, "my-tasks.js"),
    `import { appendFileSync } from "node:fs";
import { task } from "database-task";

export const hello = task(
  function hello(marker) {
    appendFileSync(process.env.RUN_LOG, \`\${marker}\\n\`);
    return \`hello \${marker}\`;
  },
  { name: "hello" },
);
`,
  );
  writeFileSync(path.join(dir, "database-task.config.js"), `export default {\n  database: ${JSON.stringify(db.url)},\n  tasks: ["./my-tasks.js"],\n};\n`);
  writeFileSync(
    path.join(dir, "enqueue.js"),
    `import { close } from "database-task";
import { hello } from "./my-tasks.js";

const result = await hello.enqueue(process.argv[2]);
process.stdout.write(\`\${result.id}\\n\`);
await close();
`,
  );
}

interface Layout {
  name: string;
  /** The user's project: where the config, the task module and enqueue.js are, and where commands run. */
  dir: string;
  /** How the user's own script is run (`node enqueue.js`). */
  node: string[];
  worker: [string, string[]];
  server: [string, string[]];
}

const runLog = (layout: Layout) => path.join(work, `${layout.name}.log`);
const loggedLines = (layout: Layout) => (existsSync(runLog(layout)) ? readFileSync(runLog(layout), "utf8").split("\n").filter(Boolean) : []);

async function enqueue(layout: Layout, marker: string): Promise<string> {
  const { stdout } = await succeed(process.execPath, [...layout.node, "enqueue.js", marker], layout.dir, { RUN_LOG: runLog(layout) });
  const id = stdout.trim();
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id;
}

async function statusOf(id: string): Promise<string | undefined> {
  const knex = (await getRuntime()).storage().knex;
  const row = await knex(TASK_TABLE).where({ id }).first("status");
  return row?.status;
}

/** (a) enqueue from the user's script, run `database-task worker` (due tasks, then exit). */
async function workerRunsTheTask(layout: Layout, marker = `${layout.name}-worker`): Promise<void> {
  const id = await enqueue(layout, marker);
  const worker = await run(layout.worker[0], layout.worker[1], layout.dir, { RUN_LOG: runLog(layout) });
  expect(worker.code, worker.output).toBe(0);
  expect(worker.stdout, worker.output).toContain(`Processing task: ${id} (hello)`);
  expect(await statusOf(id), worker.output).toBe("SUCCESSFUL");
  expect(loggedLines(layout), worker.output).toContain(marker);
  expect(worker.stderr, worker.output).not.toContain("loaded more than once");
}

/** (b) start the server, enqueue, POST /tasks/execute/<id>/, then stop it with SIGTERM. */
async function serverRunsTheTask(layout: Layout, marker = `${layout.name}-server`): Promise<void> {
  const server = start(layout.server[0], layout.server[1], layout.dir, {
    RUN_LOG: runLog(layout),
    PORT: "0",
    DATABASE_TASK_ALLOW_UNAUTHENTICATED: "true",
  });
  try {
    const url = await listening(server);
    const id = await enqueue(layout, marker);
    const response = await fetch(`${url}/tasks/execute/${id}/`, { method: "POST" });
    const body = await response.text();
    expect(response.status, `${body}\n${server.output()}`).toBe(200);
    expect(JSON.parse(body), server.output()).toMatchObject({ executed: true, result: { id, status: "SUCCESSFUL", task_path: "hello" } });
    expect(await statusOf(id), server.output()).toBe("SUCCESSFUL");
    expect(loggedLines(layout), server.output()).toContain(marker);
  } finally {
    if (!server.closed) process.kill(-server.pid, "SIGTERM");
    await server.result;
  }
  expect(server.output()).not.toContain("loaded more than once");
}

/** The URL the server prints once it listens, reached through 127.0.0.1. */
function listening(server: Child): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /Listening on http:\/\/[^:\s]+:(\d+)/.exec(server.output());
      if (match) {
        clearInterval(timer);
        resolve(`http://127.0.0.1:${match[1]}`);
      } else if (server.closed) {
        clearInterval(timer);
        reject(new Error(`the server exited before listening:\n${server.output()}`));
      }
    }, 25);
  });
}

const available = await databaseAvailable("postgres");

describe.skipIf(!available)("layouts: the user's tasks are found by the worker and the server", () => {
  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "database-task-layouts-"));
    db = await createTestDatabase("postgres");
    configure({ database: db.url, logger: quiet });
    await migrate();
    // The working tree as it is, packed: prepack builds dist/ with tsc.
    checkout = copyWorkingTree(path.join(work, "checkout"));
    const packed = await succeed(NPM, ["pack", "--pack-destination", work, "--silent"], checkout);
    tarball = path.join(work, packed.stdout.trim().split("\n").at(-1)!);
    expect(existsSync(tarball), packed.output).toBe(true);
    expect(existsSync(path.join(checkout, "dist/index.js")), packed.output).toBe(true);
  }, 120_000);

  afterAll(async () => {
    const alive = [...children];
    for (const child of alive) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Promise.all(alive.map((child) => child.result));
    await close();
    await db?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe("installed: npm install <tarball>, npx database-task", () => {
    let layout: Layout;

    beforeAll(async () => {
      const dir = path.join(work, "installed");
      mkdirSync(dir);
      writeFileSync(path.join(dir, "package.json"), `${JSON.stringify({ name: "layouts-installed", private: true, type: "module" }, null, 2)}\n`);
      await succeed(NPM, ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund", "--loglevel", "error"], dir);
      expect(existsSync(path.join(dir, "node_modules/database-task/src"))).toBe(false);
      addUserFiles(dir);
      layout = {
        name: "installed",
        dir,
        node: [],
        worker: [NPX, ["--no", "database-task", "worker"]],
        server: [NPX, ["--no", "database-task", "serve", "--host", "127.0.0.1", "--allow-unauthenticated"]],
      };
    }, 120_000);

    it("worker", () => workerRunsTheTask(layout));
    it("serve", () => serverRunsTheTask(layout));
  });

  describe("repo: the repository as the deploy template, node bin/database-task.js and npm start", () => {
    let layout: Layout;

    beforeAll(() => {
      const dir = copyWorkingTree(path.join(work, "repo"));
      // Built, as in the repro (npm ci && npm run build): "database-task" alone would resolve to this dist/.
      cpSync(path.join(checkout, "dist"), path.join(dir, "dist"), { recursive: true });
      addUserFiles(dir);
      layout = {
        name: "repo",
        dir,
        node: [],
        worker: [process.execPath, ["bin/database-task.js", "worker"]],
        server: [NPM, ["start", "--silent"]],
      };
    });

    it("worker, with dist/ built", () => workerRunsTheTask(layout));
    it("npm start, with dist/ built", () => serverRunsTheTask(layout));

    it("worker and npm start without dist/ (a script of the user's preloads bin/source-layout.js)", async () => {
      renameSync(path.join(layout.dir, "dist"), path.join(layout.dir, "dist.off"));
      // Without dist/ a plain `node enqueue.js` has no library to import; the preload sends it to src/.
      const withoutDist: Layout = { ...layout, node: ["--import", "./bin/source-layout.js"] };
      await workerRunsTheTask(withoutDist, "repo-no-dist-worker");
      await serverRunsTheTask(withoutDist, "repo-no-dist-server");
    });
  });

  describe("linked: npm link in a checkout, npm link database-task in the project", () => {
    let layout: Layout;

    beforeAll(async () => {
      // The global prefix is work/prefix (childEnv): nothing reaches the machine's own.
      await succeed(NPM, ["link", "--no-audit", "--no-fund", "--loglevel", "error"], checkout);
      const dir = path.join(work, "linked");
      mkdirSync(dir);
      writeFileSync(path.join(dir, "package.json"), `${JSON.stringify({ name: "layouts-linked", private: true, type: "module" }, null, 2)}\n`);
      await succeed(NPM, ["link", "database-task", "--no-audit", "--no-fund", "--loglevel", "error"], dir);
      addUserFiles(dir);
      layout = {
        name: "linked",
        dir,
        node: [],
        worker: [NPX, ["--no", "database-task", "worker"]],
        server: [NPX, ["--no", "database-task", "serve", "--host", "127.0.0.1", "--allow-unauthenticated"]],
      };
    }, 60_000);

    it("worker", () => workerRunsTheTask(layout));
    it("serve", () => serverRunsTheTask(layout));
  });
});
