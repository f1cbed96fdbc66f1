/**
 * Random bodies and query strings at every endpoint: never a 500, always a
 * JSON answer, and no change to tasks the request had no business changing.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, runTaskById } from "../../src/index.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase, type TestDialect } from "../helpers/databases.ts";
import { count, fail } from "./fixtures/tasks.ts";
import { clearTasks, request, snapshot, startApp, useDatabase, type Reply, type TestServer } from "./helpers.ts";

const RUNS = Number(process.env.HTTP_PROPERTY_RUNS ?? 100);

type Row = { id: string; status: string };

/** Values that parameters see: valid ones, near misses, and anything JSON can carry. */
const jsonParamValue = fc.oneof(
  fc.constantFrom(true, false, null, 0, 1, -1, 10, 100, 101, 10_000, 10_001, 36_500, -0, 1.5, 1e300),
  fc.constantFrom("true", "false", "TRUE", "1", "0", "", " ", "default", "other", "inMemory", "nope", "constructor", "__proto__"),
  fc.constantFrom("SUCCESSFUL,FAILED", "READY", "successful", "FAILED,,", "\u0000", "a\u0000b", "x".repeat(300)),
  fc.integer({ min: -50_000, max: 50_000 }),
  fc.double(),
  fc.string({ unit: "binary" }),
  // Characters databases treat specially: PostgreSQL refuses NUL in text.
  fc.string({ unit: fc.constantFrom("a", "\u0000", "\u00e9", "\ud83d\ude00", "\ud800", ",", "%") }),
  fc.jsonValue({ maxDepth: 2 }),
);

const textParamValue = fc.oneof(
  jsonParamValue.map((value) => (typeof value === "string" ? value : JSON.stringify(value) ?? "")),
  fc.integer({ min: -50_000, max: 50_000 }).map(String),
);

function paramObject(keys: string[]) {
  return fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 8 })), jsonParamValue, { maxKeys: 5 });
}

/** A query string: well-formed pairs (repeats included) or raw junk. */
function queryString(keys: string[]) {
  const pairs = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })), textParamValue), { maxLength: 5 });
  return fc.oneof(
    pairs.map((list) => {
      const search = new URLSearchParams();
      for (const [key, value] of list) search.append(key, value);
      const text = search.toString();
      return text ? `?${text}` : "";
    }),
    fc.string({ maxLength: 30 }).map((junk) => `?${junk.replace(/#/g, "")}`),
  );
}

/** A request body: an object of (mostly) known parameters, any JSON value, or text that may not be JSON at all. */
function requestBody(keys: string[]) {
  return fc.oneof(
    paramObject(keys).map((object) => JSON.stringify(object)),
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? ""),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: "binary", maxLength: 40 }),
  );
}

function expectWellFormed(reply: Reply, allowed: number[]) {
  expect(reply.status, reply.text).not.toBe(500);
  expect(allowed, `${reply.status} ${reply.text}`).toContain(reply.status);
  expect(reply.headers.get("content-type")).toMatch(/^application\/json/);
  if (reply.status >= 400) {
    expect(Object.keys(reply.json as object)).toEqual(["error"]);
    expect(typeof (reply.json as { error: unknown }).error).toBe("string");
  }
}

function describeProperties(dialect: TestDialect, available: boolean) {
  describe.skipIf(!available)(`random requests on ${dialect}`, () => {
    let db: TestDatabase;
    let server: TestServer;
    let successfulId: string;

    /** A task delayed a year (nothing due, so run/run-one have nothing to do), one SUCCESSFUL, one FAILED. */
    async function seed() {
      await clearTasks();
      await count.using({ runAfter: new Date(Date.now() + 365 * 86_400_000) }).enqueue("delayed");
      const done = await count.enqueue("done");
      await runTaskById(done.id);
      successfulId = done.id;
      await runTaskById((await fail.enqueue("failed")).id);
    }

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      await useDatabase(db.url, { default: { backend: "database" }, other: { backend: "database" }, inMemory: { backend: "dummy" } });
      server = await startApp();
      await seed();
    });

    afterAll(async () => {
      await server?.close();
      await close();
      await db?.drop();
    });

    it("run and run-one: any body gives 200 or 400, and nothing due means nothing changes", async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom("/tasks/run/", "/tasks/run-one/"), requestBody(["max_tasks", "queue_name", "backend_name"]), async (path, raw) => {
          const before = await snapshot();
          const reply = await request(server.url, "POST", path, { raw });
          expectWellFormed(reply, [200, 400]);
          if (reply.status === 200) expect(reply.json).toMatchObject({ processed: path.endsWith("run/") ? 0 : false });
          expect(await snapshot()).toEqual(before);
        }),
        { numRuns: RUNS },
      );
    });

    it("status: any query gives 200 or 400 and changes nothing", async () => {
      await fc.assert(
        fc.asyncProperty(queryString(["queue_name", "backend_name"]), async (query) => {
          const before = await snapshot();
          const reply = await request(server.url, "GET", `/tasks/status/${query}`);
          expectWellFormed(reply, [200, 400]);
          if (reply.status === 200) expect(reply.json).toEqual({ pending_count: 0 });
          expect(await snapshot()).toEqual(before);
        }),
        { numRuns: RUNS },
      );
    });

    it("execute: any id and query on tasks it may not run changes nothing", async () => {
      const id = fc.oneof(
        fc.uuid(),
        fc.constant(null).map(() => successfulId),
        fc.constant(null).map(() => successfulId.toUpperCase()),
        fc.string({ maxLength: 40 }).map(encodeURIComponent),
        fc.string({ unit: "binary", maxLength: 40 }).map(encodeURIComponent),
      );
      await fc.assert(
        fc.asyncProperty(id, queryString(["fail_on_error", "allow_retry", "backend_name"]), async (taskId, query) => {
          const before = await snapshot();
          const reply = await request(server.url, "POST", `/tasks/execute/${taskId}/${query}`);
          // 404: an unknown id, or a segment such as ".." that resolves to another path.
          expectWellFormed(reply, [200, 400, 404]);
          if (reply.status === 200) expect(reply.json).toMatchObject({ executed: false });
          expect(await snapshot()).toEqual(before);
        }),
        { numRuns: RUNS },
      );
    });

    it("purge: any query or body deletes only finished tasks, and only when it answers 200 without dry_run", async () => {
      const keys = ["days", "status", "batch_size", "dry_run", "backend_name"];
      const call = fc.oneof(
        queryString(keys).map((query) => ({ method: "GET", path: `/tasks/purge/${query}`, raw: undefined as string | undefined })),
        requestBody(keys).map((raw) => ({ method: "POST", path: "/tasks/purge/", raw })),
      );
      await fc.assert(
        fc.asyncProperty(call, async ({ method, path, raw }) => {
          if ((await snapshot()).length < 3) await seed();
          const before = (await snapshot()) as Row[];
          // GET is App Engine cron's way in (and only on App Engine); POST anyone's with credentials.
          if (method === "GET") process.env.GAE_SERVICE = "default";
          const reply = await request(server.url, method, path, { raw, headers: method === "GET" ? { "x-appengine-cron": "true" } : {} }).finally(
            () => delete process.env.GAE_SERVICE,
          );
          expectWellFormed(reply, [200, 400]);
          const after = (await snapshot()) as Row[];
          const body = reply.json as { dry_run?: boolean; deleted?: number; count?: number };
          if (reply.status !== 200 || body.dry_run === true) {
            expect(after).toEqual(before);
            return;
          }
          expect(body.dry_run).toBe(false);
          const gone = before.filter((row) => !after.some((kept) => kept.id === row.id));
          expect(gone.length).toBe(body.deleted);
          for (const row of gone) expect(["SUCCESSFUL", "FAILED"]).toContain(row.status);
          expect(after).toEqual(before.filter((row) => !gone.includes(row)));
        }),
        { numRuns: RUNS },
      );
    });
  });
}

describeProperties("sqlite", true);
describeProperties("postgres", await databaseAvailable("postgres"));
