/**
 * "Run selected tasks" and "Retry failed tasks" through real form posts:
 * django-database-task's outcome messages, what they do to the rows, and a
 * redispatching backend (Cloud Tasks) getting its failed tasks back instead
 * of having them run in the web process.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase, type TestDialect } from "../helpers/databases.ts";
import { BrokenRedispatchBackend, FakeRedispatchBackend, redispatched } from "./fixtures/redispatch-backend.ts";
import { failure, seedTasks } from "./fixtures/seed.ts";
import "./fixtures/tasks.ts";
import { Client, csrfTokenIn, flashIn, flashLevelIn, silentLogger, startAdmin, type AdminServer } from "./helpers.ts";

const available: Record<TestDialect, boolean> = {
  sqlite: await databaseAvailable("sqlite"),
  postgres: await databaseAvailable("postgres"),
  mysql: await databaseAvailable("mysql"),
};

for (const dialect of ["sqlite", "postgres", "mysql"] as const) {
  describe.skipIf(!available[dialect])(`admin actions on ${dialect}`, () => {
    let db: TestDatabase;
    let server: AdminServer;
    const client = new Client({ authorization: "Bearer actions-test-token" });
    const storage = async () => (await getRuntime()).storage();
    const row = async (id: string) => (await storage()).taskGet(id);

    /** Posts the action as the list page's form does and returns the message the next page shows. */
    async function act(action: string, ids: string[], returnTo = "") {
      const token = csrfTokenIn(await (await client.get(server.url + "/")).text());
      const posted = await client.post(server.url + "/actions", [["_csrf", token], ["action", action], ["return", returnTo], ...ids.map((id): [string, string] => ["ids", id])]);
      expect(posted.status).toBe(303);
      const location = posted.headers.get("location")!;
      const page = await (await client.get(server.origin + location)).text();
      return { text: flashIn(page), level: flashLevelIn(page), location, page };
    }

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      configure({
        database: db.url,
        backends: {
          default: { backend: "database" },
          cloud: { backend: (context) => new FakeRedispatchBackend(context) },
          broken: { backend: (context) => new BrokenRedispatchBackend(context) },
        },
        logger: silentLogger,
      });
      await (await storage()).migrate();
      server = await startAdmin({ bearerToken: "actions-test-token" });
    });

    afterEach(async () => {
      await (await storage()).knex(TASK_TABLE).delete();
      redispatched.length = 0;
    });

    afterAll(async () => {
      await server?.close();
      await close();
      await db?.drop();
    });

    describe("Run selected tasks", () => {
      it("runs the READY ones as worker \"admin\", skips the rest, and says so", async () => {
        const [ok, bad, done, failed, running] = await seedTasks(await storage(), [
          { status: "READY", taskName: "admin.add", args: [2, 3] },
          { status: "READY", taskName: "admin.fail", args: ["nope"] },
          { status: "SUCCESSFUL", taskName: "admin.add", returnValue: 1 },
          { status: "FAILED", taskName: "admin.add", errors: [failure("old")] },
          { status: "RUNNING", taskName: "admin.add" },
        ]);
        const outcome = await act("run", [ok, bad, done, failed, running]);
        expect(outcome.text).toBe("Task execution completed: 1 succeeded, 1 failed, 3 skipped (not READY).");
        expect(outcome.level).toBe("warning");
        expect(await row(ok)).toMatchObject({ status: "SUCCESSFUL", returnValue: 5, workerIds: ["admin"], attempts: 1 });
        const failedRow = await row(bad);
        expect(failedRow).toMatchObject({ status: "FAILED", workerIds: ["admin"] });
        expect(failedRow!.errors).toHaveLength(1);
        expect(failedRow!.errors[0]).toMatchObject({ errorClass: "RangeError", message: "nope" });
        expect(await row(done)).toMatchObject({ status: "SUCCESSFUL", returnValue: 1, workerIds: ["seed-worker"] });
        expect(await row(failed)).toMatchObject({ status: "FAILED", workerIds: ["seed-worker"] });
        expect(await row(running)).toMatchObject({ status: "RUNNING", workerIds: ["seed-worker"] });
      });

      it("leaves out the parts that are zero, and is a success when nothing failed", async () => {
        const ids = await seedTasks(await storage(), [{ taskName: "admin.add" }, { taskName: "admin.echo", args: ["x"] }]);
        const outcome = await act("run", ids);
        expect(outcome.text).toBe("Task execution completed: 2 succeeded.");
        expect(outcome.level).toBe("success");
      });

      it("warns when no READY task was selected, and changes nothing", async () => {
        const ids = await seedTasks(await storage(), [{ status: "SUCCESSFUL" }, { status: "FAILED", errors: [failure("x")] }]);
        const outcome = await act("run", ids);
        expect(outcome.text).toBe("No tasks in READY status were selected.");
        expect(outcome.level).toBe("warning");
        expect((await row(ids[1]))!.status).toBe("FAILED");
      });

      it("counts unknown ids as skipped", async () => {
        const [id] = await seedTasks(await storage(), [{ taskName: "admin.add" }]);
        const outcome = await act("run", [id, randomUUID(), "not-an-id", id]);
        expect(outcome.text).toBe("Task execution completed: 1 succeeded, 2 skipped (not READY).");
      });

      it("leaves alone a task whose backend this process does not configure, instead of stranding it RUNNING", async () => {
        const [here, elsewhere] = await seedTasks(await storage(), [{ taskName: "admin.add" }, { taskName: "admin.add", backendName: "gone" }]);
        const outcome = await act("run", [here, elsewhere]);
        expect(outcome.text).toBe("Task execution completed: 1 succeeded. 1 task left alone: its backend is not configured in this process.");
        expect(outcome.level).toBe("warning");
        expect((await row(elsewhere))!.status).toBe("READY");
      });

      it("asks for a selection when none was made", async () => {
        const outcome = await act("run", []);
        expect(outcome.text).toBe("Items must be selected in order to perform actions on them. No items have been changed.");
      });

      it("returns to the same filtered list, and from a detail page to that page", async () => {
        const [id] = await seedTasks(await storage(), [{ taskName: "admin.add" }]);
        expect((await act("run", [id], "status=READY&queue=default")).location).toBe("/admin/?status=READY&queue=default");
        const [other] = await seedTasks(await storage(), [{ taskName: "admin.add" }]);
        const fromDetail = await act("run", [other], `task:${other}`);
        expect(fromDetail.location).toBe(`/admin/tasks/${other}`);
        expect(fromDetail.text).toBe("Task execution completed: 1 succeeded.");
        expect(fromDetail.page).toContain("badge-successful");
      });
    });

    describe("Retry failed tasks", () => {
      it("runs FAILED ones again as worker \"admin-retry\", keeping earlier errors, and says how it went", async () => {
        const [fixed, broken, ready] = await seedTasks(await storage(), [
          { status: "FAILED", taskName: "admin.add", args: [1, 1], errors: [failure("was broken")] },
          { status: "FAILED", taskName: "admin.fail", args: ["still broken"], errors: [failure("first")] },
          { status: "READY", taskName: "admin.add" },
        ]);
        const outcome = await act("retry", [fixed, broken, ready]);
        expect(outcome.text).toBe("Retry completed: 1 succeeded, 1 failed again, 1 skipped (not FAILED).");
        expect(outcome.level).toBe("warning");
        const fixedRow = await row(fixed);
        expect(fixedRow).toMatchObject({ status: "SUCCESSFUL", returnValue: 2, workerIds: ["seed-worker", "admin-retry"], attempts: 2 });
        expect(fixedRow!.errors.map((e) => e.message)).toEqual(["was broken"]);
        const brokenRow = await row(broken);
        expect(brokenRow).toMatchObject({ status: "FAILED", workerIds: ["seed-worker", "admin-retry"], attempts: 2 });
        expect(brokenRow!.errors.map((e) => e.message)).toEqual(["first", "still broken"]);
        expect(await row(ready)).toMatchObject({ status: "READY", attempts: 0 });
      });

      it("is a success when every retried task succeeded", async () => {
        const ids = await seedTasks(await storage(), [{ status: "FAILED", taskName: "admin.add", errors: [failure("x")] }]);
        const outcome = await act("retry", ids);
        expect(outcome.text).toBe("Retry completed: 1 succeeded.");
        expect(outcome.level).toBe("success");
      });

      it("warns when no FAILED task was selected, and changes nothing", async () => {
        const ids = await seedTasks(await storage(), [{ status: "READY" }, { status: "SUCCESSFUL" }]);
        const outcome = await act("retry", ids);
        expect(outcome.text).toBe("No tasks in FAILED status were selected.");
        expect(outcome.level).toBe("warning");
        expect((await row(ids[0]))!.status).toBe("READY");
      });

      it("hands a redispatching backend's tasks back to it instead of running them here", async () => {
        const [c1, c2, local] = await seedTasks(await storage(), [
          { status: "FAILED", taskName: "admin.add", backendName: "cloud", errors: [failure("x")] },
          { status: "FAILED", taskName: "admin.fail", backendName: "cloud", errors: [failure("y")] },
          { status: "FAILED", taskName: "admin.add", errors: [failure("z")] },
        ]);
        const outcome = await act("retry", [c1, c2, local]);
        expect(outcome.text).toBe('Retry completed: 2 re-dispatched to backend "cloud", 1 succeeded.');
        expect(outcome.level).toBe("success");
        expect(redispatched).toEqual([[c1, c2].sort()]);
        for (const id of [c1, c2]) {
          const r = await row(id);
          // Requeued for the backend's own delivery: not run, no new attempt, no admin worker.
          expect(r).toMatchObject({ status: "READY", attempts: 1, workerIds: ["seed-worker"], finishedAt: null });
        }
        expect(await row(local)).toMatchObject({ status: "SUCCESSFUL", workerIds: ["seed-worker", "admin-retry"] });
      });

      it("reports a redispatch that failed and leaves those tasks FAILED", async () => {
        const [id] = await seedTasks(await storage(), [{ status: "FAILED", backendName: "broken", errors: [failure("x")] }]);
        const outcome = await act("retry", [id]);
        expect(outcome.text).toBe('1 task could not be re-dispatched to backend "broken": quota <exceeded>.');
        expect(outcome.level).toBe("error");
        expect(outcome.page).toContain("quota &lt;exceeded&gt;");
        expect((await row(id))!.status).toBe("FAILED");
      });
    });

    it("refuses an unknown action and changes nothing", async () => {
      const [id] = await seedTasks(await storage(), [{ status: "READY" }]);
      const token = csrfTokenIn(await (await client.get(server.url + "/")).text());
      const posted = await client.post(server.url + "/actions", [["_csrf", token], ["action", "delete"], ["ids", id]]);
      expect(posted.status).toBe(400);
      expect((await row(id))!.status).toBe("READY");
    });
  });
}
