/**
 * Nothing is shown or changed without authorization, a cross-site post
 * changes nothing, and every value from the database reaches the page as text.
 */
import http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { adminRouter } from "../../src/admin/index.ts";
import { requireAuthorization } from "../../src/admin/auth.ts";
import { resolveOptions } from "../../src/admin/options.ts";
import { close, ConfigError, configure, getRuntime } from "../../src/index.ts";
import { FAILURE_WINDOW_MS, MAX_FAILURES, throttleClock } from "../../src/http/throttle.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { recordingLogger } from "../http/helpers.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";
import { failure, seedTasks } from "./fixtures/seed.ts";
import "./fixtures/tasks.ts";
import { basic, Client, csrfTokenIn, flashIn, startAdmin, type AdminServer } from "./helpers.ts";

let db: TestDatabase;
/** The runtime's logger: where the admin says why it refused a request. */
const logged = recordingLogger();
const refusalReasons = () => logged.lines.filter((line) => line.message === "Admin refused a request").map((line) => line.meta?.reason);

/** The throttles' clock, `shift` ms ahead of the real one (only ever moved forward). */
let shift = 0;
const storage = async () => (await getRuntime()).storage();
const statusOf = async (id: string) => ((await (await storage()).knex(TASK_TABLE).where({ id }).first("status")) as { status: string }).status;

beforeAll(async () => {
  db = await createTestDatabase("sqlite");
  configure({ database: db.url, logger: logged });
  vi.spyOn(throttleClock, "now").mockImplementation(() => Date.now() + shift);
  await (await storage()).migrate();
});

afterEach(async () => {
  await (await storage()).knex(TASK_TABLE).delete();
  logged.lines.length = 0;
});

afterAll(async () => {
  vi.restoreAllMocks();
  await close();
  await db?.drop();
});

describe("creating the router", () => {
  it("refuses to exist without any authorization", () => {
    expect(() => adminRouter({})).toThrow(ConfigError);
    expect(() => adminRouter({})).toThrow(/authorize, basicAuth or bearerToken/);
    expect(() => adminRouter(undefined as never)).toThrow(ConfigError);
  });

  it("exists without authorization only when told it is a development server, and never in production", () => {
    expect(() => adminRouter({ insecureDevelopmentMode: true })).not.toThrow();
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    try {
      expect(() => adminRouter({ insecureDevelopmentMode: true })).toThrow(/production/);
      expect(() => adminRouter({ bearerToken: "a-long-enough-token" })).not.toThrow();
    } finally {
      process.env.NODE_ENV = previous;
    }
  });

  it("names a misspelt option and refuses empty credentials", () => {
    expect(() => adminRouter({ bearerToken: "t0ken-t0ken-t0ken", basicauth: {} } as never)).toThrow(/unknown option "basicauth"/);
    expect(() => adminRouter({ bearerToken: "" })).toThrow(/bearerToken must be a non-empty string/);
    expect(() => adminRouter({ basicAuth: { username: "ops", password: "" } })).toThrow(/basicAuth.password/);
    expect(() => adminRouter({ basicAuth: { username: "a:b", password: "x" } })).toThrow(/colon/);
    expect(() => adminRouter({ bearerToken: "t0ken-t0ken-t0ken", pageSize: 0 })).toThrow(/pageSize/);
    expect(() => adminRouter({ bearerToken: "t0ken-t0ken-t0ken", timeZone: "Mars/Olympus" })).toThrow(/timeZone/);
  });
});

describe("HTTP Basic", () => {
  let server: AdminServer;
  beforeAll(async () => {
    server = await startAdmin({ basicAuth: { username: "ops", password: "s3cret pass" } });
  });
  afterAll(() => server.close());

  it("answers 401 with a Basic challenge to every path, assets included, and shows no data; the reason goes to the log", async () => {
    const [id] = await seedTasks(await storage(), [{ taskName: "secret.task.name" }]);
    for (const path of ["/", `/tasks/${id}`, "/assets/admin.css", "/no-such-page"]) {
      for (const authorization of [undefined, basic("ops", "wrong"), basic("OPS", "s3cret pass"), basic("ops", "s3cret pass "), "Basic !!!", "Bearer s3cret pass"]) {
        const response = await fetch(server.url + path, { headers: authorization ? { authorization } : {} });
        expect(response.status, `${path} with ${authorization}`).toBe(401);
        expect(response.headers.get("www-authenticate")).toBe('Basic realm="database-task admin", charset="UTF-8"');
        const body = await response.text();
        expect(body).toBe("Authorization required.");
      }
      shift += FAILURE_WINDOW_MS; // 5 failures per path: each path's round starts a new throttle window
    }
    expect(refusalReasons()).toEqual(
      Array(4)
        .fill([
          "no Authorization header",
          "wrong Basic username or password",
          "wrong Basic username or password",
          "wrong Basic username or password",
          "malformed Basic credentials",
          "an Authorization scheme the admin is not configured for (it takes Basic)",
        ])
        .flat(),
    );
    expect(logged.lines[0]).toMatchObject({ level: "warn", meta: { status: 401, path: "/admin/", client: "127.0.0.1" } });
    expect(JSON.stringify(logged.lines)).not.toMatch(/s3cret|OPS|b3Bz/); // neither the credentials nor their base64
  });

  it("serves the pages with the right credentials", async () => {
    const [id] = await seedTasks(await storage(), [{ taskName: "visible.task" }]);
    const auth = { authorization: basic("ops", "s3cret pass") };
    const list = await fetch(server.url + "/", { headers: auth });
    expect(list.status).toBe(200);
    expect(await list.text()).toContain("visible.task");
    expect((await fetch(`${server.url}/tasks/${id}`, { headers: auth })).status).toBe(200);
  });

  it("changes nothing for an unauthenticated post, even one carrying a valid token and cookie", async () => {
    const [id] = await seedTasks(await storage(), [{ status: "READY" }]);
    const client = new Client({ authorization: basic("ops", "s3cret pass") });
    const token = csrfTokenIn(await (await client.get(server.url + "/")).text());
    const anonymous = new Client();
    anonymous.cookies.set("dt_admin_csrf", client.cookies.get("dt_admin_csrf")!);
    const response = await anonymous.post(server.url + "/actions", [["_csrf", token], ["action", "run"], ["ids", id]]);
    expect(response.status).toBe(401);
    expect(await statusOf(id)).toBe("READY");
  });
});

describe("bearer token", () => {
  let server: AdminServer;
  beforeAll(async () => {
    server = await startAdmin({ bearerToken: "0123456789abcdef-token" });
  });
  afterAll(() => server.close());

  it("answers 401 with a Bearer challenge unless the exact token is sent", async () => {
    for (const authorization of [undefined, "Bearer 0123456789abcdef-toke", "Bearer 0123456789abcdef-token2", basic("x", "0123456789abcdef-token")]) {
      const response = await fetch(server.url + "/", { headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm=/);
    }
    expect((await fetch(server.url + "/", { headers: { authorization: "Bearer 0123456789abcdef-token" } })).status).toBe(200);
    expect((await fetch(server.url + "/", { headers: { authorization: "bearer 0123456789abcdef-token" } })).status).toBe(200);
  });
});

describe("authorize hook", () => {
  let server: AdminServer;
  beforeAll(async () => {
    server = await startAdmin({ authorize: (req) => req.headers["x-role"] === "admin" });
  });
  afterAll(() => server.close());

  it("answers 403 when the hook says no, to reads and to actions, and changes nothing", async () => {
    const [id] = await seedTasks(await storage(), [{ status: "FAILED", taskName: "admin.add", errors: [failure("x")] }]);
    const admin = new Client({ "x-role": "admin" });
    const token = csrfTokenIn(await (await admin.get(server.url + "/")).text());
    const intruder = new Client({ "x-role": "viewer" });
    intruder.cookies.set("dt_admin_csrf", admin.cookies.get("dt_admin_csrf")!);
    expect((await intruder.get(server.url + "/")).status).toBe(403);
    expect((await intruder.get(`${server.url}/tasks/${id}`)).status).toBe(403);
    expect((await intruder.post(server.url + "/actions", [["_csrf", token], ["action", "retry"], ["ids", id]])).status).toBe(403);
    expect(await statusOf(id)).toBe("FAILED");
    expect(refusalReasons()).toEqual(Array(3).fill("the authorize hook refused the request"));
  });

  it("treats a hook that throws as a failure, not as permission", async () => {
    const failing = await startAdmin({
      authorize: () => {
        throw new Error("session store down");
      },
    });
    try {
      const response = await fetch(failing.url + "/");
      expect(response.status).toBe(500);
      expect(await response.text()).not.toContain("session store down");
    } finally {
      await failing.close();
    }
  });
});

describe("CSRF", () => {
  let server: AdminServer;
  const auth = { authorization: basic("ops", "pw") };
  beforeAll(async () => {
    server = await startAdmin({ basicAuth: { username: "ops", password: "pw" } });
  });
  afterAll(() => server.close());

  async function session() {
    const client = new Client(auth);
    const token = csrfTokenIn(await (await client.get(server.url + "/")).text());
    return { client, token };
  }

  it("refuses posts without a token, with a wrong token, or with another browser's token, and changes nothing", async () => {
    const [id] = await seedTasks(await storage(), [{ status: "READY" }]);
    const { client, token } = await session();
    const other = await session();
    const attempts: Array<Array<[string, string]>> = [
      [["action", "run"], ["ids", id]],
      [["_csrf", ""], ["action", "run"], ["ids", id]],
      [["_csrf", token.slice(0, -2) + "xx"], ["action", "run"], ["ids", id]],
      [["_csrf", other.token], ["action", "run"], ["ids", id]],
    ];
    for (const form of attempts) {
      const response = await client.post(server.url + "/actions", form);
      expect(response.status).toBe(403);
      expect(await response.text()).toMatch(/CSRF token/);
    }
    // A token is useless without the cookie it was issued with.
    const cookieless = new Client(auth);
    expect((await cookieless.post(server.url + "/actions", [["_csrf", token], ["action", "run"], ["ids", id]])).status).toBe(403);
    expect(await statusOf(id)).toBe("READY");
  });

  it("refuses a cross-site post even with a valid token (Sec-Fetch-Site, Origin)", async () => {
    const [id] = await seedTasks(await storage(), [{ status: "READY" }]);
    const { client, token } = await session();
    const form: Array<[string, string]> = [["_csrf", token], ["action", "run"], ["ids", id]];
    for (const headers of [
      { "sec-fetch-site": "cross-site", origin: "https://evil.example" },
      { "sec-fetch-site": "same-site", origin: server.origin },
      { "sec-fetch-site": "same-origin", origin: "https://evil.example" },
      { "sec-fetch-site": "same-origin", origin: "null" },
    ]) {
      const response = await client.post(server.url + "/actions", form, headers);
      expect(response.status, JSON.stringify(headers)).toBe(403);
    }
    expect(await statusOf(id)).toBe("READY");
    const ok = await client.post(server.url + "/actions", form);
    expect(ok.status).toBe(303);
    expect(await statusOf(id)).toBe("SUCCESSFUL");
  });

  it("accepts a script's post that sends no browser headers but has the token and cookie", async () => {
    const [id] = await seedTasks(await storage(), [{ status: "READY" }]);
    const { client, token } = await session();
    const response = await fetch(server.url + "/actions", {
      method: "POST",
      redirect: "manual",
      headers: { ...auth, cookie: client.cookieHeader, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams([["_csrf", token], ["action", "run"], ["ids", id]]).toString(),
    });
    expect(response.status).toBe(303);
  });

  it("redirects only inside the admin, whatever the return field says", async () => {
    const [id] = await seedTasks(await storage(), [{ status: "SUCCESSFUL" }]);
    const { client, token } = await session();
    for (const [ret, expected] of [
      ["//evil.example/x", "/admin/"],
      ["https://evil.example", "/admin/"],
      ["status=FAILED&next=//evil", "/admin/?status=FAILED"],
      [`task:${id}`, `/admin/tasks/${id}`],
      ["task:../../etc", "/admin/"],
    ]) {
      const response = await client.post(server.url + "/actions", [["_csrf", token], ["action", "run"], ["ids", id], ["return", ret]]);
      expect(response.headers.get("location")).toBe(expected);
    }
  });

  it("shows an outcome message only when this router signed it", async () => {
    const client = new Client(auth);
    await client.get(server.url + "/");
    const payload = Buffer.from(JSON.stringify({ level: "success", text: "Forged <b>message</b>" })).toString("base64url");
    client.cookies.set("dt_admin_flash", `${payload}.forgedsignature`);
    const page = await (await client.get(server.url + "/")).text();
    expect(page).not.toContain("Forged");
  });
});

describe("escaping", () => {
  let server: AdminServer;
  const auth = { authorization: "Bearer escape-test-token" };
  beforeAll(async () => {
    server = await startAdmin({ bearerToken: "escape-test-token" });
  });
  afterAll(() => server.close());

  it("shows markup from arguments, names, queues, errors and worker ids as text", async () => {
    const markup = `<script>alert("x")</script>`;
    const [id] = await seedTasks(await storage(), [
      {
        status: "FAILED",
        taskName: `<img src=x onerror=alert(1)>`,
        queueName: `q"><script>alert(2)</script>`,
        args: [markup, { "<b>key</b>": "'single' & \"double\"" }],
        errors: [{ errorClass: "<i>Err</i>", message: markup, stack: `Error: ${markup}\n  at <anonymous>` }],
        workerIds: [`<svg onload=alert(3)>`],
      },
    ]);
    const list = await (await fetch(server.url + "/", { headers: auth })).text();
    const detail = await (await fetch(`${server.url}/tasks/${id}`, { headers: auth })).text();
    for (const page of [list, detail]) {
      expect(page).not.toContain("<script>alert");
      expect(page).not.toContain("<img src=x");
      expect(page).not.toMatch(/<script(?! src=")/);
    }
    expect(list).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(list).toContain(`value="q&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"`);
    expect(detail).toContain("&quot;&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;&quot;");
    expect(detail).toContain("&quot;&#39;single&#39; &amp; \\&quot;double\\&quot;&quot;");
    expect(detail).toContain("&lt;i&gt;Err&lt;/i&gt;");
    expect(detail).toContain("&lt;svg onload=alert(3)&gt;");
    expect(detail).not.toContain("<svg");
  });

  it("echoes a searched-for string escaped", async () => {
    const page = await (await fetch(`${server.url}/?q=${encodeURIComponent(`"><script>alert(1)</script>`)}`, { headers: auth })).text();
    expect(page).toContain(`value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`);
    expect(page).not.toContain("<script>alert");
  });

  it("sends the security headers with pages and refusals alike", async () => {
    for (const response of [await fetch(server.url + "/", { headers: auth }), await fetch(server.url + "/")]) {
      const csp = response.headers.get("content-security-policy")!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("cache-control")).toBe("no-store");
    }
    const page = await (await fetch(server.url + "/", { headers: auth })).text();
    expect(page).not.toMatch(/<script>|<style|style="| on\w+="/);
  });
});

describe("insecureDevelopmentMode", () => {
  it("serves loopback clients and refuses others, whatever X-Forwarded-For says", async () => {
    const middleware = requireAuthorization(resolveOptions({ insecureDevelopmentMode: true }));
    const outcome = async (remoteAddress: string, host = "127.0.0.1:8080") => {
      let status = 0;
      let passed = false;
      let sent = "";
      const res = {
        locals: {} as Record<string, unknown>,
        append() {},
        status(code: number) {
          status = code;
          return this;
        },
        type() {
          return this;
        },
        send(text: string) {
          sent = text;
        },
      };
      await middleware({ headers: { "x-forwarded-for": "127.0.0.1", host }, socket: { remoteAddress } } as never, res as never, () => {
        passed = true;
      });
      return passed ? "served" : `${status} ${sent}`;
    };
    expect(await outcome("127.0.0.1")).toBe("served");
    expect(await outcome("::1")).toBe("served");
    // The caller learns nothing of the configuration; the log says why.
    expect(await outcome("10.1.2.3")).toBe("403 Forbidden.");
    expect(refusalReasons()).toEqual(["insecureDevelopmentMode serves loopback clients only; this one is 10.1.2.3"]);
    // DNS rebinding: a loopback socket, but the page's own name in Host.
    expect(await outcome("127.0.0.1", "localhost:3000")).toBe("served");
    expect(await outcome("127.0.0.1", "rebind.attacker.example")).toBe("403 Forbidden.");
    expect(refusalReasons().at(-1)).toBe('insecureDevelopmentMode answers loopback host names only (set DATABASE_TASK_ALLOWED_HOSTS to add some); Host was "rebind.attacker.example"');
  });

  it("says on every page that it is unprotected", async () => {
    const server = await startAdmin({ insecureDevelopmentMode: true });
    try {
      const page = await (await fetch(server.url + "/")).text();
      expect(page).toContain("insecureDevelopmentMode");
    } finally {
      await server.close();
    }
  });
});

/** A GET on its own connection from `from` (127.0.0.2 is loopback too on Linux): another client, as the throttle sees it. */
function getFrom(url: string, from: string, authorization?: string): Promise<{ status: number; retryAfter: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: authorization ? { authorization } : {}, localAddress: from, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, retryAfter: res.headers["retry-after"], text }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("failed credentials", () => {
  it.each([
    ["Basic", { basicAuth: { username: "ops", password: "s3cret pass" } }, basic("ops", "s3cret pass"), (i: number) => basic("ops", `guess-${i}`)],
    ["bearer", { bearerToken: "0123456789abcdef-token" }, "Bearer 0123456789abcdef-token", (i: number) => `Bearer guess-${i}`],
  ] as const)(
    "%s: after 10 failures a client gets 429 with Retry-After, even with the right credentials, until the window passes; others are served",
    async (_scheme, options, right, wrong) => {
      const server = await startAdmin(options);
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 30; i++) statuses.push((await getFrom(server.url + "/", "127.0.0.1", wrong(i))).status);
        expect(statuses).toEqual([...Array(MAX_FAILURES).fill(401), ...Array(30 - MAX_FAILURES).fill(429)]);
        const throttled = await getFrom(server.url + "/", "127.0.0.1", right);
        expect(throttled.status).toBe(429);
        expect(throttled.text).toBe("Too many failed attempts; try again later");
        expect(Number(throttled.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(Number(throttled.retryAfter)).toBeLessThanOrEqual(FAILURE_WINDOW_MS / 1000);
        // Another client is not held back by these failures.
        expect((await getFrom(server.url + "/", "127.0.0.2", right)).status).toBe(200);
        const reasons = refusalReasons();
        expect(reasons).toHaveLength(MAX_FAILURES);
        expect(reasons.at(-1)).toMatch(/; 10 failed attempts from 127\.0\.0\.1 within 60 s: its requests are answered 429 for the next \d+ s$/);
        expect(JSON.stringify(logged.lines)).not.toMatch(/guess-|s3cret|0123456789abcdef/);
        shift += FAILURE_WINDOW_MS;
        expect((await getFrom(server.url + "/", "127.0.0.1", right)).status).toBe(200);
      } finally {
        await server.close();
      }
    },
  );
});

describe("outcome message", () => {
  it("is shown once, on the page the action redirects to", async () => {
    const server = await startAdmin({ bearerToken: "flash-test-token" });
    try {
      const [id] = await seedTasks(await storage(), [{ status: "SUCCESSFUL" }]);
      const client = new Client({ authorization: "Bearer flash-test-token" });
      const token = csrfTokenIn(await (await client.get(server.url + "/")).text());
      const posted = await client.post(server.url + "/actions", [["_csrf", token], ["action", "run"], ["ids", id]]);
      const next = await (await client.get(server.origin + posted.headers.get("location"))).text();
      expect(flashIn(next)).toBe("No tasks in READY status were selected.");
      expect(flashIn(await (await client.get(server.url + "/")).text())).toBeNull();
    } finally {
      await server.close();
    }
  });
});
