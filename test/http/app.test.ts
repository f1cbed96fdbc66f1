/** createApp (health check, JSON 404s, mounting) and startServer's draining, in this process. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure } from "../../src/index.ts";
import { createApp, purgeTasksView, runTasksView, startServer } from "../../src/http/index.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";
import { slow } from "./fixtures/tasks.ts";
import { listen, recordingLogger, request, silentLogger, startApp, taskRow, useDatabase } from "./helpers.ts";

let db: TestDatabase;
let scratch: string;

beforeAll(async () => {
  db = await createTestDatabase("sqlite");
  await useDatabase(db.url);
  scratch = mkdtempSync(path.join(tmpdir(), "database-task-http-"));
});

afterAll(async () => {
  await close();
  await db?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

async function waitFor(file: string) {
  for (let i = 0; i < 500 && !existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(existsSync(file)).toBe(true);
}

describe("createApp", () => {
  it("answers /healthz with 200 when the database answers", async () => {
    const server = await startApp();
    try {
      const reply = await request(server.url, "GET", "/healthz");
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ status: "ok" });
      expect((await request(server.url, "HEAD", "/healthz")).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it("answers unknown paths with a JSON 404, never an HTML page", async () => {
    const server = await startApp();
    try {
      for (const [method, path] of [
        ["GET", "/"],
        ["GET", "/tasks"],
        ["POST", "/tasks/execute/"],
        ["POST", "/tasks/execute/a/b/"],
        ["DELETE", "/nothing/here"],
      ]) {
        const reply = await request(server.url, method, path);
        expect(reply.status, `${method} ${path}`).toBe(404);
        expect(reply.json).toEqual({ error: "Not found" });
      }
      const malformed = await request(server.url, "POST", "/tasks/execute/%E0%A4%A/");
      expect(malformed.status).toBe(400);
      expect(malformed.json).toEqual({ error: "Malformed URL" });
    } finally {
      await server.close();
    }
  });

  it("mounts elsewhere and takes extra routes before the 404", async () => {
    const server = await startApp({
      mountPath: "/jobs",
      healthPath: "/ready",
      extend: (app) => app.get("/extra", (_req, res) => void res.json({ extra: true })),
    });
    try {
      expect((await request(server.url, "GET", "/jobs/status/")).json).toEqual({ pending_count: 0 });
      expect((await request(server.url, "GET", "/ready")).json).toEqual({ status: "ok" });
      expect((await request(server.url, "GET", "/extra")).json).toEqual({ extra: true });
      expect((await request(server.url, "GET", "/tasks/status/")).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe("when the database is down", () => {
  afterAll(() => useDatabase(db.url));

  it("/healthz answers 503 and the endpoints a logged JSON 500", async () => {
    const logger = recordingLogger();
    configure({ database: "postgres://postgres@127.0.0.1:1/unreachable", logger });
    const server = await listen(createApp({ allowUnauthenticated: true }));
    try {
      const health = await request(server.url, "GET", "/healthz");
      expect(health.status).toBe(503);
      expect(health.json).toEqual({ status: "unavailable", error: "Database unreachable" });
      const status = await request(server.url, "GET", "/tasks/status/");
      expect(status.status).toBe(500);
      expect(status.json).toEqual({ error: "Internal server error" });
      expect(logger.lines.map((line) => line.level)).toEqual(expect.arrayContaining(["warn", "error"]));
    } finally {
      await server.close();
    }
  });
});

describe("startServer", () => {
  it("listens, and stop() lets an in-flight request finish before closing", async () => {
    const running = await startServer({ port: 0, host: "127.0.0.1", allowUnauthenticated: true, handleSignals: false, logger: silentLogger });
    expect(running.url).toBe(`http://127.0.0.1:${running.port}`);
    const marker = path.join(scratch, "drain-started");
    const task = await slow.enqueue(marker, 400);
    const inFlight = request(running.url, "POST", `/tasks/execute/${task.id}/`);
    await waitFor(marker);
    const stopped = running.stop();
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ executed: true, result: { status: "SUCCESSFUL" } });
    expect(reply.headers.get("connection")).toBe("close");
    await stopped;
    await running.closed;
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();
  });

  it("closes connections still busy when the grace period runs out", async () => {
    const logger = recordingLogger();
    const running = await startServer({ port: 0, host: "127.0.0.1", allowUnauthenticated: true, handleSignals: false, logger, gracePeriodMs: 100 });
    const marker = path.join(scratch, "grace-started");
    const task = await slow.enqueue(marker, 1_500);
    const inFlight = request(running.url, "POST", `/tasks/execute/${task.id}/`).then(
      () => "answered",
      () => "cut off",
    );
    await waitFor(marker);
    const started = Date.now();
    await running.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await inFlight).toBe("cut off");
    expect(logger.lines.some((line) => /Grace period over/.test(line.message))).toBe(true);
    // The task itself still finishes in this process and records its outcome.
    for (let i = 0; i < 300 && (await taskRow(task.id))?.status !== "SUCCESSFUL"; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await taskRow(task.id))?.status).toBe("SUCCESSFUL");
  });

  it("rejects when the port is taken", async () => {
    const first = await startServer({ port: 0, host: "127.0.0.1", allowUnauthenticated: true, handleSignals: false, logger: silentLogger });
    try {
      await expect(
        startServer({ port: first.port, host: "127.0.0.1", allowUnauthenticated: true, handleSignals: false, logger: silentLogger }),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.stop();
    }
  });
});

describe("views exported on their own", () => {
  it("work behind a body parser that already read the body", async () => {
    const app = express();
    app.use(express.json());
    app.all("/custom/run", runTasksView);
    app.all("/custom/purge", purgeTasksView);
    const server = await listen(app);
    try {
      const refused = await request(server.url, "POST", "/custom/run", { body: { max_tasks: 0 } });
      expect(refused.status).toBe(400);
      expect(refused.json).toEqual({ error: "max_tasks must be a positive integer" });
      expect((await request(server.url, "POST", "/custom/run", { body: { max_tasks: 1 } })).json).toEqual({ processed: 0, results: [] });
      expect((await request(server.url, "POST", "/custom/run")).json).toEqual({ processed: 0, results: [] });
      expect((await request(server.url, "POST", "/custom/purge", { body: { dry_run: "true" } })).json).toEqual({ count: expect.any(Number), dry_run: true });
      expect((await request(server.url, "DELETE", "/custom/purge")).status).toBe(405);
    } finally {
      await server.close();
    }
  });
});
