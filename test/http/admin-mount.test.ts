import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adminOptionsFromEnvironment } from "../../src/http/admin-mount.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { makeProject } from "../helpers/project.ts";

const dbDir = mkdtempSync(path.join(tmpdir(), "database-task-admin-mount-"));
const project = makeProject(`sqlite://${path.join(dbDir, "admin.sqlite3")}`);
afterAll(() => {
  project.remove();
  rmSync(dbDir, { recursive: true, force: true });
});

async function serve(env: Record<string, string>, args: string[] = []) {
  const child = startCli(["serve", "--port", "0", "--host", "127.0.0.1", ...args], { cwd: project.dir, env: { DATABASE_TASK_API_TOKEN: "t0k3n", ...env } });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout!.on("data", (chunk) => {
      seen += chunk;
      const match = /Listening on (\S+)/.exec(seen);
      if (match) resolve(match[1]);
    });
    child.once("exit", () => reject(new Error(`serve exited early: ${seen}`)));
  });
  return { url, stop: async () => (child.kill("SIGTERM"), await child.result) };
}

describe("the admin UI in serve and handler/", () => {
  it("is mounted at /admin/ behind HTTP Basic when DATABASE_TASK_ADMIN_PASSWORD is set", async () => {
    expect((await runCli(["migrate"], { cwd: project.dir })).code).toBe(0);
    const server = await serve({ DATABASE_TASK_ADMIN_PASSWORD: "s3cret" });
    try {
      const anonymous = await fetch(`${server.url}/admin/`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic/);
      const wrong = await fetch(`${server.url}/admin/`, { headers: { authorization: `Basic ${Buffer.from("admin:nope").toString("base64")}` } });
      expect([401, 403]).toContain(wrong.status);
      const ok = await fetch(`${server.url}/admin/`, { headers: { authorization: `Basic ${Buffer.from("admin:s3cret").toString("base64")}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("<html");
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  });

  it("is not mounted without credentials (404), and --admin-dev serves loopback clients only", async () => {
    const plain = await serve({});
    try {
      expect((await fetch(`${plain.url}/admin/`)).status).toBe(404);
    } finally {
      await plain.stop();
    }
    const dev = await serve({}, ["--admin-dev"]);
    try {
      expect((await fetch(`${dev.url}/admin/`)).status).toBe(200);
    } finally {
      await dev.stop();
    }
  });

  it("reads the environment strictly", () => {
    expect(adminOptionsFromEnvironment({})).toBeNull();
    expect(adminOptionsFromEnvironment({ DATABASE_TASK_ADMIN_TOKEN: "abc" })).toEqual({ bearerToken: "abc" });
    expect(adminOptionsFromEnvironment({ DATABASE_TASK_ADMIN_USER: "ops", DATABASE_TASK_ADMIN_PASSWORD: "pw", DATABASE_TASK_ADMIN_SECRET: "k" })).toEqual({
      basicAuth: { username: "ops", password: "pw" },
      secret: "k",
    });
    expect(() => adminOptionsFromEnvironment({ DATABASE_TASK_ADMIN_USER: "ops" })).toThrow("DATABASE_TASK_ADMIN_PASSWORD");
  });
});
