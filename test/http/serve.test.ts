/** `database-task serve` and handler/index.ts as real child processes. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close } from "../../src/index.ts";
import { ROOT, runCli, startCli, type CliResult } from "../helpers/cli.ts";
import { count, slow } from "./fixtures/tasks.ts";
import { request, taskRow, useDatabase } from "./helpers.ts";

let dir: string;
let databaseUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "database-task-serve-"));
  databaseUrl = `sqlite://${path.join(dir, "tasks.sqlite3")}`;
  const tasks = path.join(ROOT, "test/http/fixtures/tasks.ts");
  writeFileSync(path.join(dir, "database-task.config.mjs"), `export default { database: ${JSON.stringify(databaseUrl)}, tasks: [${JSON.stringify(tasks)}] };\n`);
  expect((await runCli(["migrate"], { cwd: dir })).code).toBe(0);
  await useDatabase(databaseUrl);
});

afterAll(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

type Child = ChildProcess & { result: Promise<CliResult> };

/** Resolves with the URL the process prints once it listens (connecting through 127.0.0.1). */
function listeningUrl(child: Child): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk;
      const match = /Listening on http:\/\/[^:\s]+:(\d+)/.exec(seen);
      if (match) {
        child.stdout!.off("data", onData);
        resolve(`http://127.0.0.1:${match[1]}`);
      }
    };
    child.stdout!.on("data", onData);
    void child.result.then((result) => reject(new Error(`exited before listening: ${JSON.stringify(result)}`)));
  });
}

function startHandler(env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, [path.join(ROOT, "handler/index.ts")], {
    cwd: dir,
    env: { ...process.env, DATABASE_URL: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const result = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return Object.assign(child, { result });
}

async function waitFor(file: string) {
  for (let i = 0; i < 1000 && !existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(existsSync(file)).toBe(true);
}

describe("database-task serve", () => {
  it("serves the endpoints with the token from the environment, and drains on SIGTERM (exit 0)", async () => {
    const child = startCli(["serve", "--port", "0", "--host", "127.0.0.1"], {
      cwd: dir,
      env: { DATABASE_TASK_API_TOKEN: "serve-token", NODE_ENV: "production" },
    });
    try {
      const url = await listeningUrl(child);
      expect((await request(url, "GET", "/healthz")).json).toEqual({ status: "ok" });
      await count.enqueue("queued");
      expect((await request(url, "GET", "/tasks/status/")).status).toBe(401);
      const auth = { authorization: "Bearer serve-token" };
      expect((await request(url, "GET", "/tasks/status/", { headers: auth })).json).toEqual({ pending_count: 1 });

      const marker = path.join(dir, "serve-started");
      const task = await slow.enqueue(marker, 800);
      const inFlight = request(url, "POST", `/tasks/execute/${task.id}/`, { headers: auth });
      await waitFor(marker);
      child.kill("SIGTERM");
      const reply = await inFlight;
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ executed: true, result: { id: task.id, status: "SUCCESSFUL", task_path: "http-test.slow" } });
      const result = await child.result;
      expect(result.code).toBe(0);
      expect(result.stderr).toContain("Received SIGTERM");
      expect((await taskRow(task.id))?.status).toBe("SUCCESSFUL");
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("documents its options in --help", async () => {
    const help = await runCli(["serve", "--help"], { cwd: dir });
    expect(help.code).toBe(0);
    for (const option of ["--port", "--host", "--grace-period", "--allow-unauthenticated", "DATABASE_TASK_API_TOKEN"]) expect(help.stdout).toContain(option);
    expect((await runCli(["--help"], { cwd: dir })).stdout).toContain("serve");
  });

  it.each([
    [["serve", "--port", "abc"], {}, "must be a whole number"],
    [["serve", "--port", "70000"], {}, "must be at most 65535"],
    [["serve", "--grace-period", "-1"], {}, "must be a number of seconds"],
    [["serve", "--bogus"], {}, "unknown option"],
    [["serve"], { PORT: "eighty" }, "PORT must be a port number"],
    [["serve"], { DATABASE_TASK_ALLOW_UNAUTHENTICATED: "maybe" }, "DATABASE_TASK_ALLOW_UNAUTHENTICATED must be"],
  ])("%j (env %j) exits 2 with one line", async (args, env, message) => {
    const result = await runCli(args, { cwd: dir, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split("\n")[0]).toContain(message);
  });

  it("refuses to start open in production, naming what to set", async () => {
    const result = await runCli(["serve", "--port", "0", "--host", "127.0.0.1"], { cwd: dir, env: { NODE_ENV: "production", DATABASE_TASK_API_TOKEN: "" } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/DATABASE_TASK_API_TOKEN/);
    expect(result.stdout).not.toContain("Listening");
  });
});

describe("handler/index.ts", () => {
  it("serves on PORT with the config file of its working directory and exits 0 on SIGTERM", async () => {
    const child = startHandler({ PORT: "0", DATABASE_TASK_ALLOW_UNAUTHENTICATED: "true", NODE_ENV: "production" });
    try {
      const url = await listeningUrl(child);
      const task = await count.enqueue("from-handler");
      expect((await request(url, "POST", `/tasks/execute/${task.id}/?fail_on_error=true&allow_retry=true`)).json).toEqual({
        executed: true,
        result: { id: task.id, status: "SUCCESSFUL", task_path: "http-test.count" },
      });
      child.kill("SIGTERM");
      expect((await child.result).code).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("exits 1 with one line for a bad PORT", async () => {
    const result = await startHandler({ PORT: "http", DATABASE_TASK_ALLOW_UNAUTHENTICATED: "true" }).result;
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('database-task handler: PORT must be a port number (0-65535); got "http".');
  });
});
