/** Who may call the endpoints: bearer token, authorize hook, production refusal, backend (OIDC-style) checks. */
import type { IncomingMessage } from "node:http";
import express from "express";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { close, ConfigError, DatabaseBackend, runTaskById, type BackendContext } from "../../src/index.ts";
import type { RequestAuthenticator, RequestAuthOutcome } from "../../src/backends/backend.ts";
import { createApp, executeTaskView, purgeTasksView, runTasksView, taskRouter, type EndpointName } from "../../src/http/index.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";
import "../../src/cloudtasks/register.ts";
import { count, runs } from "./fixtures/tasks.ts";
import { clearTasks, listen, recordingLogger, request, silentLogger, snapshot, startApp, taskRow, useDatabase, type TestServer } from "./helpers.ts";

/** Stands in for the Cloud Tasks backend: accepts "Bearer <accept>", refuses the rest the way an OIDC check would. */
class CheckingBackend extends DatabaseBackend implements RequestAuthenticator {
  readonly seen: string[] = [];
  constructor(context: BackendContext) {
    super(context);
  }
  async authenticateRequest(req: IncomingMessage): Promise<RequestAuthOutcome> {
    const header = req.headers.authorization ?? "";
    this.seen.push(header);
    const accept = String(this.context.options.accept);
    if (!header.startsWith("Bearer ")) return { ok: false, status: 401, error: "Missing or invalid Authorization header" };
    if (header === `Bearer ${accept}`) return { ok: true, claims: { email: "tasks@example.iam.gserviceaccount.com" } };
    if (header === "Bearer other-account") return { ok: false, status: 403, error: "Token is for another service account" };
    return { ok: false, status: 401, error: "Invalid token" };
  }
}

const checking = (accept: string) => ({ backend: (context: BackendContext) => new CheckingBackend(context), options: { accept } });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let db: TestDatabase;
let server: TestServer | null = null;

beforeAll(async () => {
  db = await createTestDatabase("sqlite");
  await useDatabase(db.url);
});

beforeEach(async () => {
  await clearTasks();
  runs.length = 0;
});

afterEach(async () => {
  await server?.close();
  server = null;
});

afterAll(async () => {
  await close();
  await db?.drop();
});

async function expectNothingChanged(action: () => Promise<void>) {
  const before = await snapshot();
  await action();
  expect(await snapshot()).toEqual(before);
}

describe("bearerToken", () => {
  beforeAll(() => useDatabase(db.url));

  const endpoints: [string, string, (id: string) => string][] = [
    ["run", "POST", () => "/tasks/run/"],
    ["run-one", "POST", () => "/tasks/run-one/"],
    ["status", "GET", () => "/tasks/status/"],
    ["execute", "POST", (id) => `/tasks/execute/${id}/`],
    ["purge", "POST", () => "/tasks/purge/"],
  ];

  it.each(endpoints)("guards %s: missing 401, wrong 403, right 200; the reason is logged, not sent", async (name, method, path) => {
    const logger = recordingLogger();
    server = await startApp({ bearerToken: "s3cret-token", allowUnauthenticated: false, logger });
    const task = await count.enqueue("guarded");
    await expectNothingChanged(async () => {
      const missing = await request(server!.url, method, path(task.id));
      expect(missing.status).toBe(401);
      expect(missing.json).toEqual({ error: "Missing or invalid Authorization header" });
      expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const basic = await request(server!.url, method, path(task.id), { headers: { authorization: "Basic czNjcmV0LXRva2Vu" } });
      expect(basic.status).toBe(401);
      const wrong = await request(server!.url, method, path(task.id), { headers: bearer("s3cret-tokeN") });
      expect(wrong.status).toBe(403);
      expect(wrong.json).toEqual({ error: "Forbidden" });
      const longer = await request(server!.url, method, path(task.id), { headers: bearer("s3cret-token-and-more") });
      expect(longer.status).toBe(403);
    });
    expect(runs).toEqual([]);
    const right = await request(server.url, method, path(task.id), { headers: { authorization: "bearer   s3cret-token" } });
    expect(right.status).toBe(200);
    const warnings = logger.lines.filter((line) => line.level === "warn");
    expect(warnings.map((line) => line.meta?.reason)).toEqual([
      "no Authorization header",
      "Authorization header is not a bearer token",
      "wrong bearer token",
      "wrong bearer token",
    ]);
    expect(warnings[0]).toMatchObject({ message: "Task endpoint refused a request", meta: { endpoint: name, method, client: "127.0.0.1" } });
    expect(JSON.stringify(logger.lines)).not.toMatch(/s3cret-toke|czNjcmV0LXRva2Vu/);
  });

  it("checks the method before the token (405 needs no credentials)", async () => {
    server = await startApp({ bearerToken: "tok" });
    expect((await request(server.url, "GET", "/tasks/run/")).status).toBe(405);
  });

  it("refuses an empty or blank token at creation", () => {
    expect(() => taskRouter({ bearerToken: "" })).toThrow(/non-empty/);
    expect(() => taskRouter({ bearerToken: "two words" })).toThrow(/whitespace/);
  });
});

describe("authorize hook", () => {
  beforeAll(() => useDatabase(db.url));

  it("lets true through and answers 403 for false, naming the endpoint to the hook", async () => {
    const asked: EndpointName[] = [];
    const logger = recordingLogger();
    server = await startApp({
      logger,
      authorize: async (req, { endpoint }) => {
        asked.push(endpoint);
        return req.headers["x-role"] === "admin";
      },
    });
    const task = await count.enqueue("x");
    await expectNothingChanged(async () => {
      const refused = await request(server!.url, "POST", `/tasks/execute/${task.id}/`);
      expect(refused.status).toBe(403);
      expect(refused.json).toEqual({ error: "Forbidden" });
    });
    expect(logger.lines).toEqual([
      expect.objectContaining({ level: "warn", meta: expect.objectContaining({ endpoint: "execute", reason: "the authorize hook refused the request" }) }),
    ]);
    expect((await request(server.url, "GET", "/tasks/status/", { headers: { "x-role": "admin" } })).json).toEqual({ pending_count: 1 });
    expect(asked).toEqual(["execute", "status"]);
  });

  it("requires both the token and the hook when both are set", async () => {
    server = await startApp({ bearerToken: "tok", authorize: (req) => req.headers["x-ok"] === "1" });
    expect((await request(server.url, "GET", "/tasks/status/", { headers: bearer("tok") })).status).toBe(403);
    expect((await request(server.url, "GET", "/tasks/status/", { headers: { "x-ok": "1" } })).status).toBe(401);
    expect((await request(server.url, "GET", "/tasks/status/", { headers: { ...bearer("tok"), "x-ok": "1" } })).status).toBe(200);
  });

  it("answers a hook that throws with a logged 500, running nothing", async () => {
    const logger = recordingLogger();
    server = await startApp({
      logger,
      authorize: () => {
        throw new Error("auth service down");
      },
    });
    await count.enqueue("x");
    const reply = await request(server.url, "POST", "/tasks/run/");
    expect(reply.status).toBe(500);
    expect(reply.json).toEqual({ error: "Internal server error" });
    expect(reply.text).not.toContain("auth service down");
    expect(runs).toEqual([]);
    expect(logger.lines.some((line) => line.level === "error" && String(line.meta?.error).includes("auth service down"))).toBe(true);
  });
});

describe("with no authorization configured", () => {
  let nodeEnv: string | undefined;
  beforeEach(() => {
    nodeEnv = process.env.NODE_ENV;
  });
  afterEach(() => {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  });

  it("refuses to build the router in production, saying what to configure", () => {
    process.env.NODE_ENV = "production";
    expect(() => taskRouter()).toThrow(ConfigError);
    expect(() => taskRouter()).toThrow(/bearerToken.*authorize.*allowUnauthenticated/s);
    expect(() => createApp()).toThrow(/DATABASE_TASK_API_TOKEN/);
    expect(() => taskRouter({ allowUnauthenticated: true, logger: silentLogger })).not.toThrow();
    expect(() => taskRouter({ bearerToken: "tok" })).not.toThrow();
    expect(() => taskRouter({ authorize: () => true })).not.toThrow();
  });

  it("logs one warning outside production, none when the risk is accepted", () => {
    process.env.NODE_ENV = "development";
    const logger = recordingLogger();
    taskRouter({ logger });
    expect(logger.lines.filter((line) => line.level === "warn")).toHaveLength(1);
    expect(logger.lines[0].message).toMatch(/anyone/);
    const quiet = recordingLogger();
    taskRouter({ logger: quiet, allowUnauthenticated: true });
    taskRouter({ logger: quiet, bearerToken: "x" });
    expect(quiet.lines).toEqual([]);
  });
});

describe("a backend that checks requests (the Cloud Tasks OIDC seam)", () => {
  beforeAll(() => useDatabase(db.url, { default: { backend: "database" }, cloud: checking("good-oidc") }));

  it("guards execute and purge with its check instead of the bearer token; its reasons are logged, not sent", async () => {
    const logger = recordingLogger();
    server = await startApp({ bearerToken: "static-token", allowUnauthenticated: false, logger });
    const task = await count.using({ backend: "cloud" }).enqueue("via-cloud-tasks");
    await expectNothingChanged(async () => {
      const none = await request(server!.url, "POST", `/tasks/execute/${task.id}/?fail_on_error=true&allow_retry=true`);
      expect(none.status).toBe(401);
      expect(none.json).toEqual({ error: "Missing or invalid Authorization header" });
      const staticToken = await request(server!.url, "POST", `/tasks/execute/${task.id}/`, { headers: bearer("static-token") });
      expect(staticToken.status).toBe(401);
      expect(staticToken.json).toEqual({ error: "Missing or invalid Authorization header" });
      const otherAccount = await request(server!.url, "POST", `/tasks/execute/${task.id}/`, { headers: bearer("other-account") });
      expect(otherAccount.status).toBe(403);
      expect(otherAccount.json).toEqual({ error: "Forbidden" });
      const purge = await request(server!.url, "GET", "/tasks/purge/", { headers: bearer("static-token") });
      expect(purge.status).toBe(401);
    });
    expect(runs).toEqual([]);
    const ok = await request(server.url, "POST", `/tasks/execute/${task.id}/?fail_on_error=true&allow_retry=true`, { headers: bearer("good-oidc") });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ executed: true, result: { status: "SUCCESSFUL" } });
    expect(runs).toEqual(["via-cloud-tasks"]);
    expect((await request(server.url, "POST", "/tasks/purge/", { headers: bearer("good-oidc") })).json).toEqual({ deleted: 1, dry_run: false });
    expect(logger.lines.filter((line) => line.level === "warn").map((line) => [line.meta?.endpoint, line.meta?.reason])).toEqual([
      ["execute", 'backend "cloud": Missing or invalid Authorization header'],
      ["execute", 'backend "cloud": Invalid token'],
      ["execute", 'backend "cloud": Token is for another service account'],
      ["purge", 'backend "cloud": Invalid token'],
    ]);
  });

  it("cannot be bypassed with backend_name", async () => {
    server = await startApp({ allowUnauthenticated: true });
    // A finished task, so a purge that got through would have something to delete.
    await runTaskById((await count.enqueue("on-default")).id);
    const pending = await count.enqueue("pending");
    await expectNothingChanged(async () => {
      for (const query of ["?backend_name=default", "?backend_name=nope", "?backend_name=cloud"]) {
        expect((await request(server!.url, "POST", `/tasks/execute/${pending.id}/${query}`)).status).toBe(401);
        expect((await request(server!.url, "GET", `/tasks/purge/${query}`)).status).toBe(401);
      }
      expect((await request(server!.url, "POST", "/tasks/purge/", { body: { backend_name: "default" } })).status).toBe(401);
    });
    expect(await taskRow(pending.id)).toMatchObject({ status: "READY" });
  });

  it("leaves run, run-one and status to the router's own options", async () => {
    server = await startApp({ bearerToken: "static-token", allowUnauthenticated: false });
    expect((await request(server.url, "GET", "/tasks/status/", { headers: bearer("good-oidc") })).status).toBe(403);
    expect((await request(server.url, "GET", "/tasks/status/", { headers: bearer("static-token") })).status).toBe(200);
    expect((await request(server.url, "POST", "/tasks/run/", { headers: bearer("static-token") })).status).toBe(200);
  });

  it("guards the views exported on their own too", async () => {
    const app = express();
    app.post("/hooks/run", runTasksView);
    app.all("/hooks/execute/:task_id", executeTaskView);
    app.all("/hooks/purge", purgeTasksView);
    server = await listen(app);
    const task = await count.enqueue("standalone");
    expect((await request(server.url, "POST", `/hooks/execute/${task.id}`)).status).toBe(401);
    expect((await request(server.url, "GET", "/hooks/purge?backend_name=default")).status).toBe(401);
    expect((await request(server.url, "GET", `/hooks/execute/${task.id}`)).status).toBe(405);
    expect(runs).toEqual([]);
    expect((await request(server.url, "POST", `/hooks/execute/${task.id}`, { headers: bearer("good-oidc") })).json).toMatchObject({ executed: true });
    // run has no backend check: wrapping it with your own middleware is how it is protected.
    expect((await request(server.url, "POST", "/hooks/run")).json).toEqual({ processed: 0, results: [] });
  });
});

describe("the Cloud Tasks backend's refusals", () => {
  beforeAll(() =>
    useDatabase(db.url, {
      default: { backend: "database" },
      "push-queue": {
        backend: "cloudtasks",
        options: { project: "demo-project", location: "local1", handlerUrl: "http://127.0.0.1:9/tasks/execute/{task_id}/" },
      },
    }),
  );

  it("tell the caller only 401, and the log which backend refused and what to configure", async () => {
    const logger = recordingLogger();
    server = await startApp({ allowUnauthenticated: true, logger });
    const task = await count.enqueue("never");
    for (const headers of [{}, bearer("some.oidc.token")]) {
      const reply = await request(server.url, "POST", `/tasks/execute/${task.id}/`, { headers });
      expect(reply.status).toBe(401);
      expect(reply.json).toEqual({ error: "Missing or invalid Authorization header" });
    }
    expect(runs).toEqual([]);
    const reasons = logger.lines.filter((line) => line.level === "warn").map((line) => String(line.meta?.reason));
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) {
      expect(reason).toMatch(/^backend "push-queue": Backend "push-queue" has no serviceAccountEmail, .* Set serviceAccountEmail \(or allowUnauthenticatedDelivery: true/);
    }
    expect(JSON.stringify(logger.lines)).not.toContain("some.oidc.token");
  });
});

describe("several checking backends", () => {
  beforeAll(() =>
    useDatabase(db.url, { default: { backend: "database" }, first: checking("token-a"), second: checking("token-b") }),
  );

  it("accepts what any one accepts; otherwise answers the first refusal's status, logging its reason", async () => {
    const logger = recordingLogger();
    server = await startApp({ allowUnauthenticated: true, logger });
    const a = await count.enqueue("a");
    const b = await count.enqueue("b");
    expect((await request(server.url, "POST", `/tasks/execute/${a.id}/`, { headers: bearer("token-a") })).status).toBe(200);
    expect((await request(server.url, "POST", `/tasks/execute/${b.id}/`, { headers: bearer("token-b") })).status).toBe(200);
    const refused = await request(server.url, "POST", `/tasks/execute/${b.id}/`, { headers: bearer("other-account") });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({ error: "Forbidden" });
    expect(runs).toEqual(["a", "b"]);
    expect(logger.lines.filter((line) => line.level === "warn").map((line) => line.meta?.reason)).toEqual([
      'backend "first": Token is for another service account',
    ]);
  });
});

describe("a backend whose check breaks", () => {
  beforeAll(() =>
    useDatabase(db.url, {
      default: { backend: "database" },
      broken: {
        backend: (context: BackendContext) =>
          Object.assign(new DatabaseBackend(context), {
            authenticateRequest: async (): Promise<RequestAuthOutcome> => {
              throw new Error("certificate fetch failed");
            },
          }),
      },
    }),
  );

  it("fails closed with a logged 500 and runs nothing", async () => {
    const logger = recordingLogger();
    server = await startApp({ allowUnauthenticated: true, logger });
    const task = await count.enqueue("never");
    const reply = await request(server.url, "POST", `/tasks/execute/${task.id}/`);
    expect(reply.status).toBe(500);
    expect(reply.json).toEqual({ error: "Internal server error" });
    expect(runs).toEqual([]);
    expect(logger.lines.some((line) => String(line.meta?.error).includes("certificate fetch failed"))).toBe(true);
  });
});

