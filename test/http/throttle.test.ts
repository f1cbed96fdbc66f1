/**
 * Failed credentials are throttled per client: after MAX_FAILURES wrong bearer
 * tokens (or OIDC tokens a backend refuses) within the window, the client gets
 * 429 with Retry-After, even with the right token, until the window passes.
 * Real HTTP; a second client comes from 127.0.0.2 (loopback accepts it).
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { close, DatabaseBackend, type BackendContext } from "../../src/index.ts";
import type { RequestAuthenticator, RequestAuthOutcome } from "../../src/backends/backend.ts";
import {
  clientKey,
  FAILURE_WINDOW_MS,
  FailureThrottle,
  MAX_FAILURES,
  MAX_TRACKED_CLIENTS,
  throttleClock,
} from "../../src/http/throttle.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";
import { count } from "./fixtures/tasks.ts";
import { clearTasks, recordingLogger, startApp, useDatabase, type TestServer } from "./helpers.ts";

const THROTTLED = { error: "Too many failed attempts; try again later" };
const OTHER_CLIENT = "127.0.0.2";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  json: unknown;
}

/** One request on its own connection, from `from` (a loopback address this machine owns). */
function call(base: string, method: string, path: string, { headers = {}, from = "127.0.0.1" }: { headers?: Record<string, string>; from?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method, headers, localAddress: from, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, json: body ? JSON.parse(body) : undefined }));
    });
    req.on("error", reject);
    req.end();
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The throttles' clock, `shift` ms ahead of the real one. */
let shift = 0;

let db: TestDatabase;
let server: TestServer | null = null;

beforeAll(async () => {
  db = await createTestDatabase("sqlite");
  await useDatabase(db.url);
});

beforeEach(async () => {
  shift = 0;
  vi.spyOn(throttleClock, "now").mockImplementation(() => Date.now() + shift);
  await clearTasks();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await server?.close();
  server = null;
});

afterAll(async () => {
  await close();
  await db?.drop();
});

describe("the API bearer token", () => {
  it("answers 429 with Retry-After after 10 wrong tokens from one client, even to the right token, until the window passes", async () => {
    const logger = recordingLogger();
    server = await startApp({ bearerToken: "the-right-token", allowUnauthenticated: false, logger });
    const statuses: number[] = [];
    let firstThrottled: Answer | null = null;
    for (let i = 0; i < 200; i++) {
      const answer = await call(server.url, "GET", "/tasks/status/", { headers: bearer(`guess-${i}`) });
      statuses.push(answer.status);
      if (answer.status === 429) firstThrottled ??= answer;
    }
    expect(statuses.slice(0, MAX_FAILURES)).toEqual(Array(MAX_FAILURES).fill(403));
    expect(statuses.slice(MAX_FAILURES)).toEqual(Array(200 - MAX_FAILURES).fill(429));
    expect(firstThrottled!.json).toEqual(THROTTLED);
    const retryAfter = Number(firstThrottled!.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(FAILURE_WINDOW_MS / 1000);

    // The right token is not even looked at.
    const right = await call(server.url, "GET", "/tasks/status/", { headers: bearer("the-right-token") });
    expect(right.status).toBe(429);
    expect(right.json).toEqual(THROTTLED);
    shift = FAILURE_WINDOW_MS - 5_000;
    expect(Number((await call(server.url, "GET", "/tasks/status/", { headers: bearer("the-right-token") })).headers["retry-after"])).toBeLessThanOrEqual(5);

    shift = FAILURE_WINDOW_MS;
    const after = await call(server.url, "GET", "/tasks/status/", { headers: bearer("the-right-token") });
    expect(after.status).toBe(200);
    expect(after.json).toEqual({ pending_count: 0 });

    // One warning per refused request (the throttled ones are not logged), the 10th saying the client is now throttled; never a token.
    const warnings = logger.lines.filter((line) => line.level === "warn");
    expect(warnings).toHaveLength(MAX_FAILURES);
    expect(warnings[0]).toMatchObject({ message: "Task endpoint refused a request", meta: { endpoint: "status", client: "127.0.0.1", reason: "wrong bearer token" } });
    expect(warnings[MAX_FAILURES - 1].meta?.reason).toBe(
      "wrong bearer token; 10 failed attempts from 127.0.0.1 within 60 s: its requests are answered 429 for the next 60 s",
    );
    expect(JSON.stringify(logger.lines)).not.toMatch(/guess-|the-right-token/);
  });

  it("does not throttle other clients, does not count requests without credentials, and a success resets nobody's count", async () => {
    server = await startApp({ bearerToken: "the-right-token", allowUnauthenticated: false });
    // Requests with no Authorization header guess nothing: never counted.
    for (let i = 0; i < 3 * MAX_FAILURES; i++) expect((await call(server.url, "GET", "/tasks/status/")).status).toBe(401);
    for (let i = 0; i < MAX_FAILURES - 1; i++) {
      expect((await call(server.url, "GET", "/tasks/status/", { headers: bearer("wrong") })).status).toBe(403);
    }
    // Another client's success, and this client's own, change nothing in its count.
    expect((await call(server.url, "GET", "/tasks/status/", { headers: bearer("the-right-token"), from: OTHER_CLIENT })).status).toBe(200);
    expect((await call(server.url, "GET", "/tasks/status/", { headers: bearer("the-right-token") })).status).toBe(200);
    expect((await call(server.url, "GET", "/tasks/status/", { headers: bearer("wrong") })).status).toBe(403);
    expect((await call(server.url, "GET", "/tasks/status/", { headers: bearer("the-right-token") })).status).toBe(429);
    expect((await call(server.url, "POST", "/tasks/run/", { headers: bearer("the-right-token") })).status).toBe(429);

    // The other client is served, and its own failures are its own.
    expect((await call(server.url, "GET", "/tasks/status/", { headers: bearer("the-right-token"), from: OTHER_CLIENT })).status).toBe(200);
    expect((await call(server.url, "GET", "/tasks/status/", { headers: bearer("wrong"), from: OTHER_CLIENT })).status).toBe(403);
    expect((await call(server.url, "POST", "/tasks/run/", { headers: bearer("the-right-token"), from: OTHER_CLIENT })).json).toEqual({ processed: 0, results: [] });
  });
});

/** Stands in for the Cloud Tasks backend: accepts "Bearer <accept>", refuses the rest the way an OIDC check would. */
class CheckingBackend extends DatabaseBackend implements RequestAuthenticator {
  async authenticateRequest(req: IncomingMessage): Promise<RequestAuthOutcome> {
    const header = req.headers.authorization ?? "";
    if (!header.startsWith("Bearer ")) return { ok: false, status: 401, error: "Missing or invalid Authorization header" };
    if (header === `Bearer ${String(this.context.options.accept)}`) return { ok: true };
    if (header === "Bearer other-account") return { ok: false, status: 403, error: "Token email does not match the expected service account" };
    return { ok: false, status: 401, error: "Invalid token: Invalid token signature" };
  }
}

describe("OIDC refusals (a backend's request check)", () => {
  beforeAll(() =>
    useDatabase(db.url, {
      default: { backend: "database" },
      cloud: { backend: (context: BackendContext) => new CheckingBackend(context), options: { accept: "good-oidc" } },
    }),
  );
  afterAll(() => useDatabase(db.url));

  it("are not throttled: Cloud Tasks calls from Google's shared addresses, where anyone's bad tokens would hold back our deliveries", async () => {
    const logger = recordingLogger();
    server = await startApp({ allowUnauthenticated: true, logger });
    const task = await count.using({ backend: "cloud" }).enqueue("delivered");
    const paths = [`/tasks/execute/${task.id}/`, "/tasks/purge/", "/tasks/maintain/"];
    for (let i = 0; i < MAX_FAILURES + 2; i++) {
      const answer = await call(server.url, "POST", paths[i % paths.length], { headers: bearer(i % 2 ? "forged" : "other-account") });
      expect(answer.status).toBe(i % 2 ? 401 : 403);
      expect(answer.json).toEqual({ error: i % 2 ? "Missing or invalid Authorization header" : "Forbidden" });
    }
    const delivered = await call(server.url, "POST", `/tasks/execute/${task.id}/`, { headers: bearer("good-oidc") });
    expect(delivered.status).toBe(200);
    expect(delivered.json).toMatchObject({ executed: true });
    const reasons = logger.lines.filter((line) => line.level === "warn").map((line) => String(line.meta?.reason));
    expect(reasons).toHaveLength(MAX_FAILURES + 2);
    expect(reasons[0]).toBe('backend "cloud": Token email does not match the expected service account');
    expect(reasons[1]).toBe('backend "cloud": Invalid token: Invalid token signature');
  });
});

describe("FailureThrottle", () => {
  it("tracks at most MAX_TRACKED_CLIENTS clients, dropping expired and then the longest-quiet ones", () => {
    const throttle = new FailureThrottle();
    for (let i = 0; i < MAX_FAILURES; i++) throttle.recordFailure("attacker");
    for (let i = 0; i < MAX_TRACKED_CLIENTS + 5_000; i++) throttle.recordFailure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(throttle.size).toBeLessThanOrEqual(MAX_TRACKED_CLIENTS);
    shift = FAILURE_WINDOW_MS;
    throttle.recordFailure("latecomer");
    for (let i = 0; i < MAX_TRACKED_CLIENTS; i++) throttle.recordFailure(`late-${i}`);
    expect(throttle.size).toBeLessThanOrEqual(MAX_TRACKED_CLIENTS);
  });

  it("counts a failure window from the first failure, and says how many whole seconds are left", () => {
    const throttle = new FailureThrottle();
    for (let i = 0; i < MAX_FAILURES - 1; i++) expect(throttle.recordFailure("c")).toBe(false);
    expect(throttle.retryAfterSeconds("c")).toBe(0);
    shift = 30_500;
    expect(throttle.recordFailure("c")).toBe(true);
    expect(throttle.retryAfterSeconds("c")).toBe(30);
    expect(throttle.retryAfterSeconds("someone-else")).toBe(0);
    shift = FAILURE_WINDOW_MS;
    expect(throttle.retryAfterSeconds("c")).toBe(0);
  });

  it("keys clients by IPv4 address (mapped ones included) and IPv6 /64", () => {
    const key = (address: string, ip?: string) => clientKey({ socket: { remoteAddress: address }, ip } as never);
    expect(key("203.0.113.7")).toBe("203.0.113.7");
    expect(key("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(key("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(key("2001:db8:1:2:ffff:1:2:3")).toBe("2001:db8:1:2::/64");
    expect(key("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(key("::1")).toBe("0:0:0:0::/64");
    // Express's req.ip (which honours `trust proxy`) wins over the socket.
    expect(key("10.0.0.1", "198.51.100.9")).toBe("198.51.100.9");
  });
});
