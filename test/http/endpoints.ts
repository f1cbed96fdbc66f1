/**
 * Every endpoint's behaviour over real HTTP against a real database, run once
 * per dialect (endpoints.{sqlite,postgres,mysql}.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { close, getPendingTaskCount, getRuntime, runTaskById, type TaskResult } from "../../src/index.ts";
import { createTestDatabase, type TestDatabase, type TestDialect } from "../helpers/databases.ts";
import { add, count, fail, failNextRuns, failThrice, recovers, runs } from "./fixtures/tasks.ts";
import { clearTasks, request, snapshot, startApp, taskRow, useDatabase, type TestServer } from "./helpers.ts";

const item = (result: TaskResult, status: string) => ({ id: result.id, status, task_path: result.taskName });
const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);

export function describeEndpoints(dialect: TestDialect, available: boolean): void {
  describe.skipIf(!available)(`HTTP endpoints on ${dialect}`, () => {
    let db: TestDatabase;
    let server: TestServer;
    const call = (method: string, path: string, options?: Parameters<typeof request>[3]) => request(server.url, method, path, options);
    /** As on App Engine (GAE_SERVICE set), where X-Appengine-Cron can only come from App Engine cron. */
    const onAppEngine = async <T,>(fn: () => Promise<T>): Promise<T> => {
      process.env.GAE_SERVICE = "default";
      try {
        return await fn();
      } finally {
        delete process.env.GAE_SERVICE;
      }
    };
    const cronGet = (path: string) => onAppEngine(() => call("GET", path, { headers: { "x-appengine-cron": "true" } }));

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      await useDatabase(db.url, {
        default: { backend: "database" },
        other: { backend: "database" },
        inMemory: { backend: "dummy" },
      });
      server = await startApp();
    });

    beforeEach(async () => {
      await clearTasks();
      runs.length = 0;
      failNextRuns(0);
    });

    afterAll(async () => {
      await server?.close();
      await close();
      await db?.drop();
    });

    /** Asserts a 4xx answer with exactly this body and that the task table did not change. */
    async function expectRefused(method: string, path: string, status: number, error: string | RegExp, options?: Parameters<typeof request>[3]) {
      const before = await snapshot();
      const reply = await call(method, path, options);
      expect(reply.status, `${method} ${path} ${reply.text}`).toBe(status);
      expect(reply.headers.get("content-type")).toMatch(/^application\/json/);
      if (typeof error === "string") expect(reply.json).toEqual({ error });
      else expect((reply.json as { error: string }).error).toMatch(error);
      expect(await snapshot()).toEqual(before);
      return reply;
    }

    describe("POST /run/", () => {
      it("runs due tasks (10 by default) and lists each outcome", async () => {
        const ok = await add.enqueue(2, 3);
        const bad = await fail.enqueue("boom");
        const reply = await call("POST", "/tasks/run/");
        expect(reply.status).toBe(200);
        const body = reply.json as { processed: number; results: { id: string }[] };
        expect(Object.keys(body).sort()).toEqual(["processed", "results"]);
        expect(body.processed).toBe(2);
        expect([...body.results].sort(byId)).toEqual([item(ok, "SUCCESSFUL"), item(bad, "FAILED")].sort(byId));
        expect((await taskRow(ok.id))?.returnValue).toBe(5);
      });

      it("stops at max_tasks and works without the trailing slash", async () => {
        for (let i = 0; i < 3; i++) await count.enqueue(`t${i}`);
        const reply = await call("POST", "/tasks/run", { body: { max_tasks: 2 } });
        expect(reply.status).toBe(200);
        expect((reply.json as { processed: number }).processed).toBe(2);
        expect(await getPendingTaskCount()).toBe(1);
      });

      it("never runs a task twice when several requests run at once", async () => {
        for (let i = 0; i < 12; i++) await count.enqueue(`c${i}`);
        const replies = await Promise.all(Array.from({ length: 3 }, () => call("POST", "/tasks/run/", { body: { max_tasks: 100 } })));
        const processed = replies.map((reply) => (reply.json as { processed: number }).processed);
        expect(processed.reduce((a, b) => a + b, 0)).toBe(12);
        expect([...runs].sort()).toEqual(Array.from({ length: 12 }, (_, i) => `c${i}`).sort());
      });

      it("answers an empty queue with processed 0", async () => {
        expect((await call("POST", "/tasks/run/", { body: {} })).json).toEqual({ processed: 0, results: [] });
      });

      it("filters by queue_name and backend_name", async () => {
        const email = await count.using({ queueName: "emails" }).enqueue("email");
        await count.enqueue("default");
        const onOther = await count.using({ backend: "other" }).enqueue("other");
        const byQueue = await call("POST", "/tasks/run/", { body: { queue_name: "emails" } });
        expect(byQueue.json).toEqual({ processed: 1, results: [item(email, "SUCCESSFUL")] });
        const byBackend = await call("POST", "/tasks/run/", { body: { backend_name: "other", queue_name: null } });
        expect(byBackend.json).toEqual({ processed: 1, results: [item(onOther, "SUCCESSFUL")] });
        expect([...runs].sort()).toEqual(["email", "other"]);
      });

      it.each([
        [{ max_tasks: true }, "max_tasks must be a positive integer"],
        [{ max_tasks: false }, "max_tasks must be a positive integer"],
        [{ max_tasks: "5" }, "max_tasks must be a positive integer"],
        [{ max_tasks: 1.5 }, "max_tasks must be a positive integer"],
        [{ max_tasks: 0 }, "max_tasks must be a positive integer"],
        [{ max_tasks: -3 }, "max_tasks must be a positive integer"],
        [{ max_tasks: [] }, "max_tasks must be a positive integer"],
        [{ max_tasks: 101 }, "max_tasks cannot exceed 100"],
        [{ max_tasks: 1e300 }, "max_tasks cannot exceed 100"],
        [{ queue_name: 5 }, "queue_name must be a string"],
        [{ queue_name: "a\u0000b" }, "queue_name must not contain NUL characters"],
        [{ queue_name: "q".repeat(256) }, "queue_name must be at most 255 characters"],
        [{ backend_name: ["default"] }, "backend_name must be a string"],
      ])("refuses %j with 400 and runs nothing", async (body, error) => {
        await count.enqueue("never");
        await expectRefused("POST", "/tasks/run/", 400, error, { body });
        expect(runs).toEqual([]);
      });

      it("accepts max_tasks 100 and a null max_tasks (the default)", async () => {
        expect((await call("POST", "/tasks/run/", { body: { max_tasks: 100 } })).status).toBe(200);
        expect((await call("POST", "/tasks/run/", { body: { max_tasks: null } })).status).toBe(200);
      });

      it("names an unknown backend instead of silently finding nothing", async () => {
        await count.enqueue("never");
        await expectRefused("POST", "/tasks/run/", 400, /Backend "nope" is not configured/, { body: { backend_name: "nope" } });
        await expectRefused("POST", "/tasks/run/", 400, /Backend "constructor" is not configured/, { body: { backend_name: "constructor" } });
        await expectRefused("POST", "/tasks/run/", 400, /"inMemory" does not keep its tasks in the database/, { body: { backend_name: "inMemory" } });
      });

      it.each([
        ["[]", "Request body must be a JSON object"],
        ["[1, 2]", "Request body must be a JSON object"],
        ["42", "Request body must be a JSON object"],
        ['"text"', "Request body must be a JSON object"],
        ["null", "Request body must be a JSON object"],
        ["true", "Request body must be a JSON object"],
        ["{bad json", "Invalid JSON"],
        ["{\"max_tasks\": 1,}", "Invalid JSON"],
      ])("refuses the body %s with 400", async (raw, error) => {
        await count.enqueue("never");
        await expectRefused("POST", "/tasks/run/", 400, error, { raw, headers: { "content-type": "application/json" } });
      });

      it("refuses a body that is not UTF-8 as invalid JSON", async () => {
        await expectRefused("POST", "/tasks/run/", 400, "Invalid JSON", { raw: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
      });

      it("answers 413 for a body over 100 kB, announced or streamed", async () => {
        await count.enqueue("never");
        const big = JSON.stringify({ queue_name: "x".repeat(150_000) });
        await expectRefused("POST", "/tasks/run/", 413, /too large/, { raw: big });
        const stream = new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(big));
            controller.close();
          },
        });
        const before = await snapshot();
        const response = await fetch(`${server.url}/tasks/run/`, {
          method: "POST",
          body: stream,
          headers: { "content-type": "application/json" },
          duplex: "half",
        } as RequestInit);
        expect(response.status).toBe(413);
        expect(await response.json()).toMatchObject({ error: expect.stringMatching(/too large/) });
        expect(await snapshot()).toEqual(before);
      });

      it("answers 405 with Allow for other methods", async () => {
        await count.enqueue("never");
        const reply = await expectRefused("GET", "/tasks/run/", 405, "Method not allowed");
        expect(reply.headers.get("allow")).toBe("POST");
        await expectRefused("PUT", "/tasks/run/", 405, "Method not allowed", { body: {} });
        expect(runs).toEqual([]);
      });

      it("refuses a form's Content-Type with 415, so a cross-site form cannot run tasks (django-database-task ignored it)", async () => {
        await count.enqueue("a");
        for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
          await expectRefused("POST", "/tasks/run/", 415, "Content-Type must be application/json (or send no body)", {
            raw: '{"max_tasks": 1}',
            headers: { "content-type": type },
          });
        }
        expect(runs).toEqual([]);
        const json = await call("POST", "/tasks/run/", { raw: '{"max_tasks": 1}', headers: { "content-type": "application/json; charset=utf-8" } });
        expect((json.json as { processed: number }).processed).toBe(1);
        // An empty body asks for the defaults whatever its declared type (`curl -d ''` declares a form).
        await count.enqueue("b");
        const empty = await call("POST", "/tasks/run/", { raw: "", headers: { "content-type": "application/x-www-form-urlencoded" } });
        expect(empty.json).toMatchObject({ processed: 1 });
      });

      it("refuses a request a browser marks as cross-site, or from another Origin, when no credential let it in", async () => {
        await count.enqueue("a");
        await expectRefused("POST", "/tasks/run/", 403, /^Cross-site requests are refused/, { body: {}, headers: { "sec-fetch-site": "cross-site" } });
        await expectRefused("POST", "/tasks/run/", 403, /^Cross-site requests are refused/, { body: {}, headers: { origin: "http://evil.example" } });
        // Same host, other scheme: another origin.
        await expectRefused("POST", "/tasks/run/", 403, /^Cross-site requests are refused/, { body: {}, headers: { origin: server.url.replace("http:", "https:") } });
        await expectRefused("POST", "/tasks/run/", 403, /^Cross-site requests are refused/, { body: {}, headers: { origin: "null" } });
        expect(runs).toEqual([]);
        const own = await call("POST", "/tasks/run/", { body: {}, headers: { origin: server.url, "sec-fetch-site": "same-origin" } });
        expect((own.json as { processed: number }).processed).toBe(1);
      });

      it("refuses unknown parameters and parameters in the query string of a POST", async () => {
        await count.enqueue("a");
        await expectRefused("POST", "/tasks/run/", 400, 'Unknown parameter "maxtasks"; known parameters: max_tasks, queue_name, backend_name', { body: { maxtasks: 1 } });
        await expectRefused("POST", "/tasks/run/?max_tasks=1", 400, 'Parameters of a POST go in its JSON body, not the query string; got "max_tasks" in the query string');
        await expectRefused("POST", "/tasks/run-one/", 400, 'Unknown parameter "queue"; known parameters: queue_name, backend_name', { body: { queue: "x" } });
        await expectRefused("GET", "/tasks/status/?queue=x", 400, 'Unknown parameter "queue"; known parameters: queue_name, backend_name');
        expect(runs).toEqual([]);
      });
    });

    describe("POST /run-one/", () => {
      it("runs one task, or reports that there was none", async () => {
        const first = await add.enqueue(1, 1);
        expect((await call("POST", "/tasks/run-one/")).json).toEqual({ processed: true, result: item(first, "SUCCESSFUL") });
        expect((await call("POST", "/tasks/run-one")).json).toEqual({ processed: false, result: null });
      });

      it("reports a failed task as processed with status FAILED", async () => {
        const bad = await fail.enqueue("x");
        expect((await call("POST", "/tasks/run-one/", { body: {} })).json).toEqual({ processed: true, result: item(bad, "FAILED") });
      });

      it("filters by queue_name and refuses bad parameters", async () => {
        await count.using({ queueName: "other-queue" }).enqueue("x");
        expect((await call("POST", "/tasks/run-one/", { body: { queue_name: "emails" } })).json).toEqual({ processed: false, result: null });
        await expectRefused("POST", "/tasks/run-one/", 400, "queue_name must be a string", { body: { queue_name: {} } });
        await expectRefused("POST", "/tasks/run-one/", 400, /Backend "ghost" is not configured/, { body: { backend_name: "ghost" } });
        await expectRefused("POST", "/tasks/run-one/", 400, "Request body must be a JSON object", { raw: "[]" });
        await expectRefused("POST", "/tasks/run-one/", 400, "Invalid JSON", { raw: "{" });
        const reply = await expectRefused("GET", "/tasks/run-one/", 405, "Method not allowed");
        expect(reply.headers.get("allow")).toBe("POST");
      });
    });

    describe("GET /status/", () => {
      it("counts due READY tasks per queue and backend", async () => {
        await count.enqueue("a");
        await count.using({ queueName: "emails" }).enqueue("b");
        await count.using({ runAfter: new Date(Date.now() + 3_600_000) }).enqueue("later");
        await count.using({ backend: "other" }).enqueue("c");
        expect((await call("GET", "/tasks/status/")).json).toEqual({ pending_count: 2 });
        expect((await call("GET", "/tasks/status?queue_name=emails")).json).toEqual({ pending_count: 1 });
        expect((await call("GET", "/tasks/status/?backend_name=other")).json).toEqual({ pending_count: 1 });
        expect((await call("GET", "/tasks/status/?queue_name=")).json).toEqual({ pending_count: 2 });
      });

      it("answers HEAD, refuses other methods and bad parameters", async () => {
        expect((await call("HEAD", "/tasks/status/")).status).toBe(200);
        const reply = await expectRefused("POST", "/tasks/status/", 405, "Method not allowed");
        expect(reply.headers.get("allow")).toBe("GET, HEAD");
        await expectRefused("GET", "/tasks/status/?backend_name=nope", 400, /Backend "nope" is not configured/);
        await expectRefused("GET", "/tasks/status/?queue_name=a&queue_name=b", 400, "queue_name must be given once");
        await expectRefused("GET", "/tasks/status/?queue_name=%00", 400, "queue_name must not contain NUL characters");
      });
    });

    describe("POST /execute/<uuid>/", () => {
      const execute = (id: string, query = "") => call("POST", `/tasks/execute/${id}/${query}`);

      it("runs a READY task and reports it", async () => {
        const result = await add.enqueue(20, 22);
        expect((await execute(result.id)).json).toEqual({ executed: true, result: item(result, "SUCCESSFUL") });
        const row = await taskRow(result.id);
        expect(row).toMatchObject({ status: "SUCCESSFUL", returnValue: 42, attempts: 1 });
      });

      it("does not run a SUCCESSFUL task again on a duplicate delivery", async () => {
        const result = await count.enqueue("once");
        expect((await execute(result.id, "?fail_on_error=true&allow_retry=true")).status).toBe(200);
        const again = await execute(result.id, "?fail_on_error=true&allow_retry=true");
        expect(again.status).toBe(200);
        expect(again.json).toEqual({ executed: false, reason: "Task is not in READY status", status: "SUCCESSFUL" });
        expect(runs).toEqual(["once"]);
        expect((await taskRow(result.id))?.attempts).toBe(1);
      });

      it("runs a task once when the same delivery arrives several times at once", async () => {
        const result = await count.enqueue("concurrent");
        const replies = await Promise.all(Array.from({ length: 5 }, () => execute(result.id, "?fail_on_error=true&allow_retry=true")));
        // One runs it; a delivery that finds it running answers 409 (Cloud Tasks keeps its task and asks again),
        // one that finds it finished answers 200: nothing is acknowledged that has not been done.
        const ran = replies.filter((reply) => (reply.json as { executed: boolean }).executed);
        expect(ran.map((reply) => reply.status)).toEqual([200]);
        for (const reply of replies.filter((r) => !ran.includes(r))) {
          if (reply.status === 409) expect(reply.json).toMatchObject({ executed: false, status: "RUNNING" });
          else expect(reply).toMatchObject({ status: 200, json: { executed: false, reason: "Task is not in READY status", status: "SUCCESSFUL" } });
        }
        expect(runs).toEqual(["concurrent"]);
        expect((await taskRow(result.id))?.attempts).toBe(1);
      });

      it("leaves a RUNNING task alone while its lease holds, and runs it once the lease has run out", async () => {
        const storage = (await getRuntime()).storage();
        const claim = async (id: string, lockedUntil: Date) =>
          storage.taskClaimById({ id, statuses: ["READY"], workerId: "gone-worker", now: new Date(), lockedUntil });
        const live = await count.enqueue("live");
        await claim(live.id, new Date(Date.now() + 60_000));
        // A Cloud Tasks delivery (fail_on_error) is told to come back: a 2xx would make Cloud Tasks drop its task.
        const busy = await call("POST", `/tasks/execute/${live.id}/?fail_on_error=true&allow_retry=true`);
        expect(busy.status).toBe(409);
        expect(busy.json).toMatchObject({ executed: false, status: "RUNNING", retry_after_seconds: expect.any(Number) });
        const retryAfter = Number(busy.headers.get("retry-after"));
        expect(retryAfter).toBeGreaterThan(55);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect((busy.json as { retry_after_seconds: number }).retry_after_seconds).toBe(retryAfter);
        // Without fail_on_error, django-database-task's answer: 200, not executed.
        expect((await execute(live.id, "")).json).toEqual({ executed: false, reason: "Task is not in READY status", status: "RUNNING" });
        const orphan = await count.enqueue("orphan");
        await claim(orphan.id, new Date(Date.now() - 1_000));
        expect((await execute(orphan.id, "?fail_on_error=true&allow_retry=true")).json).toEqual({
          executed: true,
          result: item(orphan, "SUCCESSFUL"),
        });
        expect(runs).toEqual(["orphan"]);
        const row = await taskRow(orphan.id);
        expect(row?.attempts).toBe(2);
        expect(row?.errors.map((error) => error.errorClass)).toEqual(["WorkerLost"]);
      });

      it("works without the trailing slash and with an upper-case id", async () => {
        const one = await count.enqueue("a");
        const two = await count.enqueue("b");
        expect((await call("POST", `/tasks/execute/${one.id}`)).json).toMatchObject({ executed: true });
        expect((await call("POST", `/tasks/execute/${two.id.toUpperCase()}/`)).json).toEqual({ executed: true, result: item(two, "SUCCESSFUL") });
      });

      it("answers 404 for an unknown id and 400 for a malformed one", async () => {
        await count.enqueue("never");
        await expectRefused("POST", "/tasks/execute/7b0c5a52-0a77-4a39-9f3b-8f1d9c7a1e00/", 404, "Task not found");
        for (const bad of ["not-a-uuid", "123", "7b0c5a52-0a77-4a39-9f3b-8f1d9c7a1e0", "7b0c5a52x0a77-4a39-9f3b-8f1d9c7a1e00", "%20"]) {
          await expectRefused("POST", `/tasks/execute/${bad}/`, 400, "task_id must be a UUID");
        }
        expect(runs).toEqual([]);
      });

      it("reports a failed task with 200, or 500 with failed: true when fail_on_error", async () => {
        const quiet = await fail.enqueue("quiet");
        expect((await execute(quiet.id)).json).toEqual({ executed: true, result: item(quiet, "FAILED") });
        const loud = await fail.enqueue("loud");
        const reply = await execute(loud.id, "?fail_on_error=true");
        expect(reply.status).toBe(500);
        expect(reply.json).toEqual({ executed: true, failed: true, result: item(loud, "FAILED") });
        expect((await taskRow(loud.id))?.errors.at(-1)?.message).toBe("loud");
      });

      it("answers 500 for a failed attempt that will be retried, so Cloud Tasks retries too", async () => {
        const result = await failThrice.enqueue();
        const first = await execute(result.id, "?fail_on_error=true&allow_retry=true");
        expect(first.status).toBe(500);
        expect(first.json).toEqual({ executed: true, failed: true, result: item(result, "READY") });
        const second = await execute(result.id, "?fail_on_error=true&allow_retry=true");
        expect(second.status).toBe(500);
        expect(await taskRow(result.id)).toMatchObject({ status: "READY", attempts: 2 });
        const third = await execute(result.id, "?fail_on_error=true&allow_retry=true");
        expect(third.json).toEqual({ executed: true, failed: true, result: item(result, "FAILED") });
        expect(await taskRow(result.id)).toMatchObject({ status: "FAILED", attempts: 3 });
      });

      it("runs a FAILED task again only with allow_retry", async () => {
        failNextRuns(1);
        const result = await recovers.enqueue();
        expect((await execute(result.id)).json).toMatchObject({ result: { status: "FAILED" } });
        expect((await execute(result.id)).json).toEqual({ executed: false, reason: "Task is not in READY status", status: "FAILED" });
        expect((await execute(result.id, "?allow_retry=false")).json).toMatchObject({ executed: false });
        expect((await execute(result.id, "?allow_retry=TRUE")).json).toEqual({ executed: true, result: item(result, "SUCCESSFUL") });
        expect(await taskRow(result.id)).toMatchObject({ status: "SUCCESSFUL", attempts: 2, returnValue: "recovered" });
      });

      it.each(["1", "True", "tRuE"])("reads fail_on_error=%s as true", async (value) => {
        const result = await fail.enqueue("x");
        expect((await execute(result.id, `?fail_on_error=${value}`)).status).toBe(500);
      });

      it.each(["0", "false", "FALSE"])("reads fail_on_error=%s as false", async (value) => {
        const result = await fail.enqueue("x");
        expect((await execute(result.id, `?fail_on_error=${value}`)).status).toBe(200);
      });

      it.each([
        ["?fail_on_error=yes", "fail_on_error must be true or false"],
        ["?fail_on_error=", "fail_on_error must be true or false"],
        ["?allow_retry=2", "allow_retry must be true or false"],
        ["?allow_retry=true&allow_retry=false", "allow_retry must be given once"],
      ])("refuses %s with 400 and runs nothing", async (query, error) => {
        const result = await count.enqueue("never");
        await expectRefused("POST", `/tasks/execute/${result.id}/${query}`, 400, error);
        expect(runs).toEqual([]);
      });

      it("refuses other methods with 405 and runs nothing", async () => {
        const result = await count.enqueue("never");
        const reply = await expectRefused("GET", `/tasks/execute/${result.id}/`, 405, "Method not allowed");
        expect(reply.headers.get("allow")).toBe("POST");
        expect(runs).toEqual([]);
      });

      it("runs the task on its own backend whatever backend_name says", async () => {
        const result = await count.using({ backend: "other" }).enqueue("on-other");
        expect((await execute(result.id, "?backend_name=default")).json).toEqual({ executed: true, result: item(result, "SUCCESSFUL") });
      });
    });

    describe("GET|POST /purge/", () => {
      /** Two SUCCESSFUL, one FAILED and one READY task on "default", one SUCCESSFUL on "other". */
      async function seed() {
        const done = [await add.enqueue(1, 2), await add.enqueue(3, 4)];
        const failed = await fail.enqueue("x");
        const ready = await count.enqueue("waiting");
        const other = await add.using({ backend: "other" }).enqueue(0, 0);
        for (const t of [...done, failed, other]) await runTaskById(t.id);
        return { done, failed, ready, other };
      }

      it("counts without deleting on a dry run (GET and POST)", async () => {
        await seed();
        const before = await snapshot();
        expect((await cronGet("/tasks/purge/?dry_run=true")).json).toEqual({ count: 4, dry_run: true });
        expect((await call("POST", "/tasks/purge/", { body: { dry_run: true } })).json).toEqual({ count: 4, dry_run: true });
        expect((await cronGet("/tasks/purge?dry_run=TRUE&status=FAILED")).json).toEqual({ count: 1, dry_run: true });
        expect(await snapshot()).toEqual(before);
      });

      it("deletes finished tasks and keeps the others", async () => {
        const { ready } = await seed();
        expect((await call("POST", "/tasks/purge/")).json).toEqual({ deleted: 4, dry_run: false });
        expect((await snapshot()).map((row) => (row as { id: string }).id)).toEqual([ready.id]);
      });

      it('treats dry_run "false" as false (the model deleted nothing)', async () => {
        await seed();
        expect((await call("POST", "/tasks/purge/", { body: { dry_run: "false" } })).json).toEqual({ deleted: 4, dry_run: false });
        await seed();
        expect((await cronGet("/tasks/purge/?dry_run=false")).json).toEqual({ deleted: 4, dry_run: false });
        await seed();
        expect((await call("POST", "/tasks/purge/", { body: { dry_run: false } })).json).toEqual({ deleted: 4, dry_run: false });
      });

      it("limits by status, days, batch_size and backend_name", async () => {
        const { failed } = await seed();
        expect((await cronGet("/tasks/purge/?days=1")).json).toEqual({ deleted: 0, dry_run: false });
        expect((await call("POST", "/tasks/purge/", { body: { status: "successful", backend_name: "default", batch_size: 1 } })).json).toEqual({
          deleted: 2,
          dry_run: false,
        });
        expect(await taskRow(failed.id)).toBeDefined();
        expect((await cronGet("/tasks/purge/?status=%20FAILED%20,bogus&batch_size=10000&days=0")).json).toEqual({ deleted: 1, dry_run: false });
        expect((await call("POST", "/tasks/purge/", { body: { backend_name: "other", status: ["SUCCESSFUL"] } })).json).toEqual({
          deleted: 1,
          dry_run: false,
        });
      });

      it.each([
        ["GET", "?days=abc", "days must be an integer"],
        ["GET", "?days=1.5", "days must be an integer"],
        ["GET", "?days=", "days must be an integer"],
        ["GET", "?days=-1", "days must be a non-negative integer"],
        ["GET", "?days=36501", "days cannot exceed 36500"],
        ["GET", "?batch_size=x", "batch_size must be an integer"],
        ["GET", "?batch_size=0", "batch_size must be a positive integer"],
        ["GET", "?batch_size=10001", "batch_size cannot exceed 10000"],
        ["GET", "?status=READY,RUNNING", "No valid statuses specified"],
        ["GET", "?status=", "No valid statuses specified"],
        ["GET", "?dry_run=maybe", "dry_run must be true or false"],
        ["GET", "?dry_run=", "dry_run must be true or false"],
        ["GET", "?backend_name=nope", /Backend "nope" is not configured/],
        ["GET", "?backend_name=inMemory", /does not keep its tasks in the database/],
        ["GET", "?days=1&days=2", "days must be given once"],
        ["GET", "?dryrun=true", 'Unknown parameter "dryrun"; known parameters: days, status, batch_size, dry_run, backend_name'],
      ])("%s %s (App Engine cron) answers 400 and deletes nothing", async (method, query, error) => {
        await seed();
        await onAppEngine(() => expectRefused(method, `/tasks/purge/${query}`, 400, error, { headers: { "x-appengine-cron": "true" } }));
      });

      it("accepts GET only from App Engine cron: anywhere else it answers 405 and deletes nothing", async () => {
        await seed();
        const message = "Method not allowed: use POST (GET is accepted only from App Engine cron)";
        expect((await expectRefused("GET", "/tasks/purge/", 405, message)).headers.get("allow")).toBe("POST");
        // The header proves nothing off App Engine, where anyone can send it.
        await expectRefused("GET", "/tasks/purge/?dry_run=false", 405, message, { headers: { "x-appengine-cron": "true" } });
        // On App Engine without the header: an <img> on some page, say.
        await onAppEngine(() => expectRefused("GET", "/tasks/purge/", 405, message));
      });

      it("refuses a dry_run in the query string of a POST instead of deleting", async () => {
        await seed();
        await expectRefused("POST", "/tasks/purge/?dry_run=true", 400, 'Parameters of a POST go in its JSON body, not the query string; got "dry_run" in the query string');
        await expectRefused("POST", "/tasks/purge/", 400, 'Unknown parameter "dryrun"; known parameters: days, status, batch_size, dry_run, backend_name', { body: { dryrun: true } });
      });

      it.each([
        [{ days: -1 }, "days must be a non-negative integer"],
        [{ days: "7" }, "days must be an integer"],
        [{ days: 1.5 }, "days must be an integer"],
        [{ days: true }, "days must be an integer"],
        [{ batch_size: 0 }, "batch_size must be a positive integer"],
        [{ batch_size: 10_001 }, "batch_size cannot exceed 10000"],
        [{ batch_size: "100" }, "batch_size must be an integer"],
        [{ status: "PENDING" }, "No valid statuses specified"],
        [{ status: 1 }, "status must be a comma-separated string of statuses"],
        [{ dry_run: "yes" }, "dry_run must be true or false"],
        [{ dry_run: 1 }, "dry_run must be true or false"],
        [{ backend_name: 7 }, "backend_name must be a string"],
      ])("POST %j answers 400 and deletes nothing", async (body, error) => {
        await seed();
        await expectRefused("POST", "/tasks/purge/", 400, error, { body });
      });

      it("refuses non-object and malformed bodies, and HEAD/PUT", async () => {
        await seed();
        await expectRefused("POST", "/tasks/purge/", 400, "Request body must be a JSON object", { raw: '["days"]' });
        await expectRefused("POST", "/tasks/purge/", 400, "Invalid JSON", { raw: "{days: 1}" });
        const head = await call("HEAD", "/tasks/purge/");
        expect(head.status).toBe(405);
        expect(head.headers.get("allow")).toBe("GET, POST");
        await expectRefused("PUT", "/tasks/purge/", 405, "Method not allowed");
      });
    });

    describe("POST /maintain/", () => {
      it("puts back tasks whose lease ran out, records the lost attempt, and leaves live leases alone", async () => {
        const storage = (await getRuntime()).storage();
        const claim = (id: string, lockedUntil: Date) =>
          storage.taskClaimById({ id, statuses: ["READY"], workerId: "dead-worker", now: new Date(), lockedUntil });
        const orphan = await count.enqueue("orphan");
        const live = await count.enqueue("live");
        await claim(orphan.id, new Date(Date.now() - 1_000));
        await claim(live.id, new Date(Date.now() + 60_000));
        const reply = await call("POST", "/tasks/maintain/");
        expect(reply.status).toBe(200);
        // No backend here delivers its tasks itself: only lease recovery has work to do.
        expect(reply.json).toMatchObject({ recovered: 1, backends: {}, complete: true, elapsed_ms: expect.any(Number) });
        const recovered = await taskRow(orphan.id);
        expect(recovered).toMatchObject({ status: "READY", attempts: 1 });
        expect(recovered?.errors.map((e) => e.errorClass)).toEqual(["WorkerLost"]);
        expect((await taskRow(live.id))?.status).toBe("RUNNING");
        // Idempotent: a second pass finds nothing to do.
        expect((await call("POST", "/tasks/maintain/", { body: { limit: 10, time_budget_seconds: 5 } })).json).toMatchObject({ recovered: 0 });
        expect(runs).toEqual([]);
      });

      it.each([
        [{ limit: 0 }, "limit must be a positive integer"],
        [{ limit: 10_001 }, "limit cannot exceed 10000"],
        [{ limit: "5" }, "limit must be an integer"],
        [{ time_budget_seconds: 0 }, "time_budget_seconds must be a positive integer"],
        [{ time_budget_seconds: 301 }, "time_budget_seconds cannot exceed 300"],
        [{ dry_run: true }, 'Unknown parameter "dry_run"; known parameters: backend_name, limit, time_budget_seconds'],
        [{ backend_name: "nope" }, /^Backend "nope" is not configured/],
        [{ backend_name: "other" }, 'Backend "other" has no delivery of its own to maintain (only "cloudtasks" backends do); leave backend_name out.'],
      ])("POST %j answers 400 and changes nothing", async (body, error) => {
        await count.enqueue("untouched");
        await expectRefused("POST", "/tasks/maintain/", 400, error, { body });
      });

      it("refuses GET outside App Engine cron, and other methods", async () => {
        await expectRefused("GET", "/tasks/maintain/", 405, "Method not allowed: use POST (GET is accepted only from App Engine cron)");
        // The header alone proves nothing off App Engine, where anyone can send it.
        await expectRefused("GET", "/tasks/maintain/", 405, "Method not allowed: use POST (GET is accepted only from App Engine cron)", {
          headers: { "x-appengine-cron": "true" },
        });
        await expectRefused("PUT", "/tasks/maintain/", 405, "Method not allowed");
      });
    });
  });
}
