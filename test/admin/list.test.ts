/**
 * The list and detail pages against every database: newest first, keyset
 * pages that neither skip nor repeat a row (ties in the enqueue millisecond included),
 * filters, search, counts, and every field on the detail page.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime, type TaskStatus } from "../../src/index.ts";
import { createTestDatabase, databaseAvailable, type TestDatabase, type TestDialect } from "../helpers/databases.ts";
import { failure, seedTasks, type SeedTask } from "./fixtures/seed.ts";
import { linkIn, rowIdsIn, silentLogger, startAdmin, type AdminServer } from "./helpers.ts";

const PAGE_SIZE = 20;
const STATUSES: TaskStatus[] = ["READY", "RUNNING", "SUCCESSFUL", "FAILED"];
const NAMES = ["shop.emails.send_receipt", "shop.search.ReindexProduct", "reports.daily_total", "odd%name_with.wildcards"];
const QUEUES = ["default", "emails", "reports"];

interface Seeded extends SeedTask {
  id: string;
  enqueuedAt: Date;
}

function seedSpecs(): SeedTask[] {
  const start = Date.UTC(2025, 0, 1, 12, 0, 0);
  const tie = new Date(start + 50_000);
  return Array.from({ length: 137 }, (_, i) => ({
    taskName: NAMES[i % NAMES.length],
    status: STATUSES[i % STATUSES.length],
    queueName: QUEUES[i % QUEUES.length],
    backendName: i % 5 === 0 ? "other" : "default",
    priority: i % 7,
    // 40 tasks share one millisecond, as one enqueueMany call leaves them.
    enqueuedAt: i >= 30 && i < 70 ? tie : new Date(start + i * 1000),
  }));
}

const newestFirst = (a: Seeded, b: Seeded) => b.enqueuedAt.getTime() - a.enqueuedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

const available: Record<TestDialect, boolean> = {
  sqlite: await databaseAvailable("sqlite"),
  postgres: await databaseAvailable("postgres"),
  mysql: await databaseAvailable("mysql"),
};

for (const dialect of ["sqlite", "postgres", "mysql"] as const) {
  describe.skipIf(!available[dialect])(`admin list and detail on ${dialect}`, () => {
    let db: TestDatabase;
    let server: AdminServer;
    let tasks: Seeded[];
    const auth = { authorization: "Bearer list-test-token" };
    const get = async (path: string) => {
      const response = await fetch(server.url + path, { headers: auth });
      return { status: response.status, page: await response.text() };
    };
    const idsAt = async (path: string) => rowIdsIn((await get(path)).page);
    const expected = (keep: (t: Seeded) => boolean) => tasks.filter(keep).sort(newestFirst).map((t) => t.id);

    /** Every id the "Older ›" links lead through, page by page. */
    async function walk(path: string): Promise<{ pages: string[][]; urls: string[] }> {
      const pages: string[][] = [];
      const urls: string[] = [];
      let next: string | null = path;
      while (next) {
        const { page } = await get(next);
        pages.push(rowIdsIn(page));
        urls.push(next);
        const href = linkIn(page, "Older ›");
        next = href ? href.replace(/^\/admin/, "") : null;
        expect(pages.length).toBeLessThan(50);
      }
      return { pages, urls };
    }

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      configure({
        database: db.url,
        backends: { default: { backend: "database" }, other: { backend: "database" }, unused: { backend: "database" } },
        logger: silentLogger,
      });
      const storage = (await getRuntime()).storage();
      await storage.migrate();
      const specs = seedSpecs();
      const ids = await seedTasks(storage, specs);
      tasks = specs.map((s, i) => ({ ...s, id: ids[i], enqueuedAt: s.enqueuedAt! }));
      server = await startAdmin({ bearerToken: "list-test-token", pageSize: PAGE_SIZE });
    });

    afterAll(async () => {
      await server?.close();
      await close();
      await db?.drop();
    });

    it("lists the newest tasks first and pages through all of them exactly once, ties included", async () => {
      const { pages } = await walk("/");
      expect(pages.slice(0, -1).every((p) => p.length === PAGE_SIZE)).toBe(true);
      expect(pages.flat()).toEqual(expected(() => true));
    });

    it("pages back up with Newer to the same pages, and offers no Newer on the first", async () => {
      const { pages, urls } = await walk("/");
      expect(linkIn((await get("/")).page, "‹ Newer")).toBeNull();
      let { page } = await get(urls[urls.length - 1]);
      for (let i = pages.length - 2; i >= 0; i--) {
        const href = linkIn(page, "‹ Newer");
        expect(href, `Newer link on page ${i + 2}`).not.toBeNull();
        page = (await get(href!.replace(/^\/admin/, ""))).page;
        expect(rowIdsIn(page)).toEqual(pages[i]);
      }
      expect(linkIn(page, "‹ Newer")).toBeNull();
    });

    it("filters by status, queue and backend, alone and together, across pages", async () => {
      expect((await walk("/?status=FAILED")).pages.flat()).toEqual(expected((t) => t.status === "FAILED"));
      expect((await walk("/?queue=emails")).pages.flat()).toEqual(expected((t) => t.queueName === "emails"));
      expect((await walk("/?backend=other")).pages.flat()).toEqual(expected((t) => t.backendName === "other"));
      expect((await walk("/?status=READY&queue=reports&backend=default")).pages.flat()).toEqual(
        expected((t) => t.status === "READY" && t.queueName === "reports" && t.backendName === "default"),
      );
      expect(await idsAt("/?status=ready")).toEqual(expected((t) => t.status === "READY").slice(0, PAGE_SIZE));
      expect(await idsAt("/?queue=nope")).toEqual([]);
    });

    it("searches by whole id, by id prefix, and by part of a name without treating % and _ as wildcards", async () => {
      const target = tasks[77];
      expect(await idsAt(`/?q=${target.id}`)).toEqual([target.id]);
      expect(await idsAt(`/?q=${target.id.toUpperCase()}`)).toEqual([target.id]);
      expect(await idsAt(`/?q=${target.id.replace(/-/g, "")}`)).toEqual([target.id]);
      // What the list shows of an id (its last 8 characters) finds that task; the start of an id finds every task it begins.
      expect(await idsAt(`/?q=${target.id.slice(-8)}`)).toEqual(expected((t) => t.id.endsWith(target.id.slice(-8))));
      expect((await walk(`/?q=${target.id.slice(0, 8)}`)).pages.flat()).toEqual(expected((t) => t.id.startsWith(target.id.slice(0, 8))));
      expect(await idsAt(`/?q=${target.id.slice(0, 13)}`)).toContain(target.id);
      const byName = (await walk("/?q=reindex")).pages.flat();
      expect(byName).toEqual(expected((t) => t.taskName!.toLowerCase().includes("reindex")));
      expect((await walk(`/?q=${encodeURIComponent("%")}`)).pages.flat()).toEqual(expected((t) => t.taskName!.includes("%")));
      expect((await walk("/?q=e_d")).pages.flat()).toEqual([]);
      expect((await walk("/?q=daily_t&status=SUCCESSFUL")).pages.flat()).toEqual(
        expected((t) => t.taskName === "reports.daily_total" && t.status === "SUCCESSFUL"),
      );
      expect(await idsAt("/?q=no-such-task-anywhere")).toEqual([]);
    });

    it("counts tasks per status, within the chosen queue and backend", async () => {
      const countsIn = (page: string) =>
        Object.fromEntries([...page.matchAll(/<span class="stat-label">(\w[\w ]*)<\/span><span class="stat-value">([\d,]+)<\/span>/g)].map((m) => [m[1], Number(m[2].replace(/,/g, ""))]));
      const count = (keep: (t: Seeded) => boolean) => tasks.filter(keep).length;
      expect(countsIn((await get("/")).page)).toEqual({
        "All tasks": tasks.length,
        READY: count((t) => t.status === "READY"),
        RUNNING: count((t) => t.status === "RUNNING"),
        SUCCESSFUL: count((t) => t.status === "SUCCESSFUL"),
        FAILED: count((t) => t.status === "FAILED"),
      });
      const { page } = await get("/?queue=emails&backend=default&status=FAILED");
      const inScope = (t: Seeded) => t.queueName === "emails" && t.backendName === "default";
      expect(countsIn(page).FAILED).toBe(count((t) => inScope(t) && t.status === "FAILED"));
      expect(countsIn(page)["All tasks"]).toBe(count(inScope));
      expect(page).toContain(`${count((t) => inScope(t) && t.status === "FAILED")} tasks</span>`);
    });

    it("offers the queues and backends that exist, and the configured backends", async () => {
      const { page } = await get("/");
      const optionsOf = (name: string) => {
        const select = new RegExp(`<select name="${name}"[^>]*>([\\s\\S]*?)</select>`).exec(page)![1];
        return [...select.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]).filter(Boolean);
      };
      expect(optionsOf("queue")).toEqual(["default", "emails", "reports"]);
      expect(optionsOf("backend")).toEqual(["default", "other", "unused"]);
    });

    it("shows every field of a task on its detail page", async () => {
      const storage = (await getRuntime()).storage();
      const enqueuedAt = new Date(Date.UTC(2025, 1, 2, 3, 4, 5, 678));
      const [id] = await seedTasks(storage, [
        {
          taskName: "shop.detail.check",
          status: "FAILED",
          queueName: "emails",
          backendName: "other",
          priority: -7,
          args: [{ order: 12, items: ["a", "b"] }, "text"],
          attempts: 2,
          maxAttempts: 3,
          enqueuedAt,
          errors: [failure("first try"), failure("second try")],
          workerIds: ["host-1:100:abc", "host-2:200:def"],
        },
      ]);
      const { status, page } = await get(`/tasks/${id}`);
      await storage.knex("database_task").where({ id }).delete();
      expect(status).toBe(200);
      for (const text of [
        id,
        "shop.detail.check",
        "badge-failed",
        "emails",
        "other",
        "-7",
        "2 of 3",
        "2025-02-02 03:04:05.678",
        "RangeError",
        "first try",
        "second try",
        "at adminFail (tasks.ts:8:9)",
        "host-1:100:abc",
        "host-2:200:def",
        "Retry failed tasks",
      ]) {
        expect(page, text).toContain(text);
      }
      // PostgreSQL's jsonb keeps object keys in its own order, so only the values are checked.
      expect(page).toContain(`&quot;order&quot;: 12`);
      expect(page).toContain(`  &quot;text&quot;\n]`);
    });

    it("answers 404 for an unknown or malformed id", async () => {
      expect((await get("/tasks/00000000-0000-4000-8000-000000000000")).status).toBe(404);
      const malformed = await get("/tasks/not-a-uuid");
      expect(malformed.status).toBe(404);
      expect(malformed.page).toContain("Task not found");
    });

    it("ignores a malformed page position instead of failing", async () => {
      expect(await idsAt("/?older=garbage")).toEqual(expected(() => true).slice(0, PAGE_SIZE));
      expect(await idsAt("/?newer=1_not-an-id")).toEqual(expected(() => true).slice(0, PAGE_SIZE));
    });
  });
}
