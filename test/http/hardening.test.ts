/**
 * What keeps a development server on a laptop, and a deployment behind
 * Google's front ends, from being driven by someone else: where `serve`
 * listens, which Host names a development server answers, when the production
 * rules apply, and `trust proxy` on Cloud Run / App Engine (admin cookies get
 * `Secure`, the admin's Origin check compares the scheme). Real HTTP, real
 * child processes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { close } from "../../src/index.ts";
import { adminExtension } from "../../src/http/admin-mount.ts";
import { listeningAddress, ROOT, runCli, startCli } from "../helpers/cli.ts";
import { basic, csrfTokenIn } from "../admin/helpers.ts";
import { count, runs } from "./fixtures/tasks.ts";
import { clearTasks, request, startApp, useDatabase, type TestServer } from "./helpers.ts";

let dir: string;
let databaseUrl: string;
let server: TestServer | null = null;
const savedEnv = { ...process.env };

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "database-task-hardening-"));
  databaseUrl = `sqlite://${path.join(dir, "tasks.sqlite3")}`;
  const tasks = path.join(ROOT, "test/http/fixtures/tasks.ts");
  writeFileSync(path.join(dir, "database-task.config.mjs"), `export default { database: ${JSON.stringify(databaseUrl)}, tasks: [${JSON.stringify(tasks)}] };\n`);
  expect((await runCli(["migrate"], { cwd: dir })).code).toBe(0);
  await useDatabase(databaseUrl);
});

afterEach(async () => {
  await server?.close();
  server = null;
  for (const name of ["K_SERVICE", "GAE_SERVICE", "NODE_ENV", "DATABASE_TASK_ALLOWED_HOSTS", "DATABASE_TASK_TRUST_PROXY"]) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
  await clearTasks();
  runs.length = 0;
});

afterAll(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `serve --port 0` with this environment and resolves with the address it printed; stops it. */
async function serveAddress(args: string[], env: NodeJS.ProcessEnv): Promise<{ printed: string; stderr: string; code: number | null }> {
  const child = startCli(["serve", "--port", "0", ...args], { cwd: dir, env: { K_SERVICE: "", GAE_SERVICE: "", GAE_APPLICATION: "", HOST: "", NODE_ENV: "", ...env } });
  const printed = (await listeningAddress(child)) ?? "";
  child.kill("SIGTERM");
  const result = await child.result;
  return { printed, stderr: result.stderr, code: result.code };
}

/** A raw HTTP request with a Host header of our choosing (fetch will not send one). */
function withHost(url: string, host: string, method = "GET", headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { host, ...headers } }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("where serve listens, and when the production rules apply", () => {
  it("listens on 127.0.0.1 in development; on 0.0.0.0 with HOST, --host, NODE_ENV=production or on Cloud Run / App Engine", async () => {
    const dev = await serveAddress([], {});
    expect(dev.printed).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await serveAddress([], { HOST: "0.0.0.0" })).printed).toMatch(/^http:\/\/0\.0\.0\.0:/);
    expect((await serveAddress(["--host", "0.0.0.0"], {})).printed).toMatch(/^http:\/\/0\.0\.0\.0:/);
    const auth = { DATABASE_TASK_API_TOKEN: "t0ken" };
    expect((await serveAddress([], { ...auth, NODE_ENV: "production" })).printed).toMatch(/^http:\/\/0\.0\.0\.0:/);
    expect((await serveAddress([], { ...auth, K_SERVICE: "svc" })).printed).toMatch(/^http:\/\/0\.0\.0\.0:/);
    expect((await serveAddress([], { ...auth, GAE_SERVICE: "default" })).printed).toMatch(/^http:\/\/0\.0\.0\.0:/);
  });

  it("refuses to start open in production, however NODE_ENV is spelt, and on Cloud Run or App Engine whatever NODE_ENV says", async () => {
    for (const env of [{ NODE_ENV: "Production" }, { NODE_ENV: " PRODUCTION " }, { K_SERVICE: "svc" }, { K_SERVICE: "svc", NODE_ENV: "development" }, { GAE_SERVICE: "default" }]) {
      const result = await serveAddress([], env);
      expect(result.printed, JSON.stringify(env)).toBe("");
      expect(result.code, JSON.stringify(env)).toBe(1);
      expect(result.stderr).toContain("The task endpoints have no authorization configured");
    }
  });
});

describe("a development server answers only to loopback host names (DNS rebinding)", () => {
  it("refuses a request for another Host, before anything runs", async () => {
    server = await startApp();
    await count.enqueue("never");
    const rebound = await withHost(`${server.url}/tasks/run/`, "rebind.attacker.example:8080", "POST");
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toEqual({ error: "Host not allowed: this development server answers to localhost only (set DATABASE_TASK_ALLOWED_HOSTS to add names)" });
    expect((await withHost(`${server.url}/healthz`, "192.168.1.20")).status).toBe(403);
    expect(runs).toEqual([]);
    for (const host of ["localhost:8080", "127.0.0.1", "[::1]:8080", "LOCALHOST"]) expect((await withHost(`${server.url}/healthz`, host)).status, host).toBe(200);
  });

  it("answers the names allowed with allowedHosts or DATABASE_TASK_ALLOWED_HOSTS", async () => {
    server = await startApp({ allowedHosts: ["devbox.local"] });
    expect((await withHost(`${server.url}/healthz`, "devbox.local:8080")).status).toBe(200);
    expect((await withHost(`${server.url}/healthz`, "other.local")).status).toBe(403);
    await server.close();
    process.env.DATABASE_TASK_ALLOWED_HOSTS = "192.168.1.20, Devbox.Local";
    server = await startApp();
    expect((await withHost(`${server.url}/healthz`, "192.168.1.20:8080")).status).toBe(200);
    expect((await withHost(`${server.url}/healthz`, "devbox.local")).status).toBe(200);
  });

  it("does not check Host in production, where the platform routes by it", async () => {
    process.env.NODE_ENV = "production";
    server = await startApp();
    expect((await withHost(`${server.url}/healthz`, "my-service-123.europe-west1.run.app")).status).toBe(200);
  });

  it("guards the admin of `serve --admin-dev` the same way", async () => {
    server = await startApp({ extend: await adminExtension({ insecureDevelopmentMode: true }) });
    expect((await withHost(`${server.url}/admin/`, "rebind.attacker.example")).status).toBe(403);
    expect((await withHost(`${server.url}/admin/`, "localhost")).status).toBe(200);
  });
});

describe("behind Google's front end (trust proxy)", () => {
  const admin = { basicAuth: { username: "admin", password: "s3cret" } };
  const get = (url: string, headers: Record<string, string>) => fetch(url, { headers: { authorization: basic("admin", "s3cret"), ...headers } });

  it("on Cloud Run, an HTTPS request (X-Forwarded-Proto) gets Secure admin cookies; elsewhere the header is not trusted", async () => {
    process.env.K_SERVICE = "svc";
    server = await startApp({ bearerToken: "t0ken", extend: await adminExtension(admin) });
    const secure = await get(`${server.url}/admin/`, { "x-forwarded-proto": "https" });
    expect(secure.status).toBe(200);
    expect(secure.headers.getSetCookie().length).toBeGreaterThan(0);
    for (const cookie of secure.headers.getSetCookie()) expect(cookie).toMatch(/;\s*Secure/i);
    await server.close();
    delete process.env.K_SERVICE;
    server = await startApp({ bearerToken: "t0ken", extend: await adminExtension(admin) });
    const local = await get(`${server.url}/admin/`, { "x-forwarded-proto": "https" });
    for (const cookie of local.headers.getSetCookie()) expect(cookie).not.toMatch(/;\s*Secure/i);
  });

  it("the admin's Origin check compares the scheme too: a page over http cannot post to the https admin", async () => {
    process.env.K_SERVICE = "svc";
    server = await startApp({ bearerToken: "t0ken", extend: await adminExtension(admin) });
    const page = await get(`${server.url}/admin/`, { "x-forwarded-proto": "https" });
    const cookie = page.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const token = csrfTokenIn(await page.text());
    const host = new URL(server.url).host;
    const post = (origin: string) =>
      fetch(`${server!.url}/admin/actions`, {
        method: "POST",
        redirect: "manual",
        headers: {
          authorization: basic("admin", "s3cret"),
          "x-forwarded-proto": "https",
          "content-type": "application/x-www-form-urlencoded",
          origin,
          cookie,
        },
        body: new URLSearchParams([["_csrf", token], ["action", "retry"]]).toString(),
      });
    const wrongScheme = await post(`http://${host}`);
    expect(wrongScheme.status).toBe(403);
    expect(await wrongScheme.text()).toContain("request from another origin");
    // The same request from the https page goes through (no task selected: the admin says so, 303 back to the list).
    expect((await post(`https://${host}`)).status).toBe(303);
  });
});
