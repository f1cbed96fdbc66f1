/**
 * What an operator does, in headless Chromium: open the list, filter, search,
 * open a task, run and retry tasks in bulk, and check the database after
 * each. The real browser also proves what HTTP tests cannot: the
 * Content-Security-Policy lets the page's own script and style load, and the
 * browser's Origin and Sec-Fetch-Site headers pass the CSRF check.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime } from "../../src/index.ts";
import { FakeRedispatchBackend, redispatched } from "../admin/fixtures/redispatch-backend.ts";
import { seedTasks, type SeedTask } from "../admin/fixtures/seed.ts";
import { silentLogger, startAdmin, type AdminServer } from "../admin/helpers.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";
import { launchChromium, type Chromium } from "./chromium.ts";
import "./fixtures/tasks.ts";

const SCREENSHOTS = path.resolve("test-output/screenshots");
const credentials = { username: "operator", password: "correct horse battery staple" };
const XSS = `<script>alert("xss")</script>`;

const RECEIPT = "shop.emails.send_receipt";
const REINDEX = "shop.search.reindex_product";
const INVOICE = "billing.invoices.generate_monthly_invoice_pdf_for_customer";
const PAYMENT = "shop.payments.capture_payment";
const SALES = "reports.daily.aggregate_sales";

function stackOf(message: string, fn: string): string {
  return `Error: ${message}\n    at ${fn} (/srv/shop/tasks/payments.js:41:11)\n    at invokeTask (/srv/shop/node_modules/database-task/dist/worker/execute.js:52:29)\n    at async runClaimedTask (/srv/shop/node_modules/database-task/dist/worker/run.js:31:20)`;
}

/** A morning's worth of tasks; the named ones are what the test acts on. */
function morning(): { background: SeedTask[]; ready: SeedTask[]; failed: SeedTask[] } {
  const at = (minute: number) => new Date(Date.UTC(2025, 5, 3, 8, minute, (minute * 17) % 60, minute * 7));
  const background: SeedTask[] = [];
  const names = [RECEIPT, REINDEX, SALES, INVOICE, RECEIPT, REINDEX];
  const queues: Record<string, string> = { [RECEIPT]: "emails", [REINDEX]: "search", [SALES]: "reports", [INVOICE]: "billing" };
  for (let i = 0; i < 34; i++) {
    const name = names[i % names.length];
    background.push({
      taskName: name,
      queueName: queues[name],
      backendName: i % 6 === 5 ? "cloud" : "default",
      status: i % 11 === 7 ? "RUNNING" : "SUCCESSFUL",
      priority: name === RECEIPT ? 10 : 0,
      args: name === RECEIPT ? [{ orderId: 50_100 + i }] : name === INVOICE ? [7000 + i, "2025-05"] : [i * 13],
      returnValue: name === RECEIPT ? { sent: true, orderId: 50_100 + i } : { ok: true },
      enqueuedAt: at(i),
      workerIds: [`web-7f9c:${4100 + (i % 3)}:worker-${i % 4}`],
    });
  }
  const ready: SeedTask[] = [
    { taskName: RECEIPT, queueName: "emails", priority: 10, args: [{ orderId: 50_200, note: XSS }], enqueuedAt: at(40) },
    { taskName: REINDEX, queueName: "search", args: [9001], enqueuedAt: at(41) },
    { taskName: SALES, queueName: "reports", args: ["2025-06-02"], enqueuedAt: at(42) },
  ];
  const failed: SeedTask[] = [
    {
      taskName: PAYMENT,
      queueName: "payments",
      priority: 20,
      status: "FAILED",
      args: [50_150],
      attempts: 3,
      maxAttempts: 3,
      enqueuedAt: at(36),
      workerIds: ["web-7f9c:4100:worker-0", "web-7f9c:4101:worker-2", "web-2b1e:4100:worker-1"],
      errors: [1, 2, 3].map(() => ({ errorClass: "Error", message: "Payment gateway timed out capturing order 50150", stack: stackOf("Payment gateway timed out capturing order 50150", "capturePayment") })),
    },
    {
      taskName: RECEIPT,
      queueName: "emails",
      priority: 10,
      status: "FAILED",
      args: [{ orderId: 50_151 }],
      enqueuedAt: at(37),
      errors: [{ errorClass: "SmtpError", message: "421 Service not available", stack: stackOf("421 Service not available", "sendReceipt") }],
    },
    {
      taskName: INVOICE,
      queueName: "billing",
      backendName: "cloud",
      status: "FAILED",
      args: [7123, "2025-05"],
      enqueuedAt: at(38),
      errors: [{ errorClass: "TypeError", message: "Cannot read properties of undefined (reading 'vatId')", stack: stackOf("Cannot read properties of undefined", "generateInvoice") }],
    },
  ];
  return { background, ready, failed };
}

describe("admin in Chromium", () => {
  let db: TestDatabase;
  let server: AdminServer;
  let chromium: Chromium;
  let page: Page;
  let readyIds: string[];
  let failedIds: string[];
  const pageErrors: string[] = [];
  const dialogs: string[] = [];

  const task = async (id: string) => (await (await getRuntime()).storage().taskGet(id))!;
  const rowIds = () => page.locator('tbody input[name="ids"]').evaluateAll((boxes) => boxes.map((b) => (b as HTMLInputElement).value));
  const flash = () => page.locator(".flash").textContent();

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    db = await createTestDatabase("sqlite");
    configure({
      database: db.url,
      backends: { default: { backend: "database" }, cloud: { backend: (context) => new FakeRedispatchBackend(context) } },
      logger: silentLogger,
    });
    const storage = (await getRuntime()).storage();
    await storage.migrate();
    const { background, ready, failed } = morning();
    await seedTasks(storage, background);
    readyIds = await seedTasks(storage, ready);
    failedIds = await seedTasks(storage, failed);
    server = await startAdmin({ basicAuth: credentials, title: "Acme Shop" });
    chromium = await launchChromium({ httpCredentials: credentials });
    page = await chromium.context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text());
    });
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  afterEach(() => {
    // A CSP violation or a script error shows up as a console error.
    expect(pageErrors).toEqual([]);
    expect(dialogs).toEqual([]);
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    await close();
    await db?.drop();
  });

  it("loads the task list, newest first, with counts per status and styled badges", async () => {
    const response = await page.goto(server.url + "/");
    expect(response!.status()).toBe(200);
    expect(await page.title()).toBe("Tasks · Acme Shop admin");
    expect(await page.locator(".stat-failed .stat-value").textContent()).toBe("3");
    expect(await page.locator(".stat-ready .stat-value").textContent()).toBe("3");
    expect(await page.locator(".stat-all .stat-value").textContent()).toBe("40");
    const ids = await rowIds();
    expect(ids).toHaveLength(40);
    expect(ids.slice(0, 3)).toEqual([...readyIds].reverse());
    // The stylesheet loaded (CSP allows it): the FAILED badge has its colour.
    const failedBadge = page.locator(".badge-failed").first();
    expect(await failedBadge.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(220, 53, 69)");
    expect(await page.locator(".badge-ready").first().evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(108, 117, 125)");
    // The script loaded: with nothing selected the action buttons are disabled.
    expect(await page.locator('button[value="run"]').isDisabled()).toBe(true);
    await page.screenshot({ path: path.join(SCREENSHOTS, "admin-list.png") });
  });

  it("filters by status and queue from the dropdowns", async () => {
    await page.goto(server.url + "/");
    await Promise.all([page.waitForURL(/status=FAILED/), page.selectOption('select[name="status"]', "FAILED")]);
    expect(new Set(await page.locator("tbody .badge").allTextContents())).toEqual(new Set(["FAILED"]));
    expect((await rowIds()).sort()).toEqual([...failedIds].sort());
    await Promise.all([page.waitForURL(/queue=emails/), page.selectOption('select[name="queue"]', "emails")]);
    expect(await rowIds()).toEqual([failedIds[1]]);
    await Promise.all([page.waitForURL((url) => url.search === ""), page.click("text=Reset")]);
    expect(await rowIds()).toHaveLength(40);
  });

  it("searches by part of a task name and by the short id shown in the list", async () => {
    await page.goto(server.url + "/");
    await page.fill('input[name="q"]', "capture_PAYMENT");
    await Promise.all([page.waitForURL(/q=capture_PAYMENT/), page.press('input[name="q"]', "Enter")]);
    expect(await rowIds()).toEqual([failedIds[0]]);
    const shortId = readyIds[1].slice(-8);
    await page.fill('input[name="q"]', shortId);
    await Promise.all([page.waitForURL(new RegExp(`q=${shortId}`)), page.press('input[name="q"]', "Enter")]);
    expect(await rowIds()).toEqual([readyIds[1]]);
    expect(await page.locator('input[name="q"]').inputValue()).toBe(shortId);
  });

  it("opens a task's detail page, where markup in its arguments is only text", async () => {
    await page.goto(server.url + "/?status=READY");
    await Promise.all([page.waitForURL(/\/tasks\//), page.click(`a[href$="/tasks/${readyIds[0]}"] >> nth=1`)]);
    expect(await page.locator("h1.task-name").textContent()).toBe(RECEIPT);
    const args = await page.locator("pre.json").first().textContent();
    expect(args).toContain(`"note": "<script>alert(\\"xss\\")</script>"`);
    expect(await page.locator("pre.json script").count()).toBe(0);
    expect(await page.locator('button[value="run"]').textContent()).toBe("Run now");
  });

  it("shows a failed task's errors with their stacks and its workers", async () => {
    await page.goto(`${server.url}/tasks/${failedIds[0]}`);
    expect(await page.locator("article.error").count()).toBe(3);
    expect(await page.locator("article.error pre.stack").first().textContent()).toContain("at capturePayment (/srv/shop/tasks/payments.js:41:11)");
    expect(await page.locator("ol.workers li").allTextContents()).toEqual([
      "Attempt 1web-7f9c:4100:worker-0",
      "Attempt 2web-7f9c:4101:worker-2",
      "Attempt 3web-2b1e:4100:worker-1",
    ]);
    await page.screenshot({ path: path.join(SCREENSHOTS, "admin-detail.png"), fullPage: true });
  });

  it("runs the selected READY tasks, skips the others, and reports it", async () => {
    await page.goto(server.url + "/");
    for (const id of [readyIds[0], readyIds[1], failedIds[0]]) await page.check(`input[name="ids"][value="${id}"]`);
    expect(await page.locator("#selection-count").textContent()).toBe("3 selected");
    await page.click('button[value="run"]');
    await page.locator(".flash").waitFor();
    expect(await flash()).toBe("Task execution completed: 2 succeeded, 1 skipped (not READY).");
    expect(await task(readyIds[0])).toMatchObject({ status: "SUCCESSFUL", workerIds: ["admin"], returnValue: { sent: true, orderId: 50_200 } });
    expect(await task(readyIds[1])).toMatchObject({ status: "SUCCESSFUL", workerIds: ["admin"], returnValue: { indexed: 9001 } });
    expect(await task(readyIds[2])).toMatchObject({ status: "READY", attempts: 0 });
    expect((await task(failedIds[0])).status).toBe("FAILED");
    expect(await page.locator(".stat-ready .stat-value").textContent()).toBe("1");
    await page.screenshot({ path: path.join(SCREENSHOTS, "admin-list-after-run.png") });
    // Reloading does not show the message again.
    await page.reload();
    expect(await page.locator(".flash").count()).toBe(0);
  });

  it("retries every failed task: in this process, or through the backend that redispatches", async () => {
    await page.goto(server.url + "/");
    await Promise.all([page.waitForURL(/status=FAILED/), page.click(".stat-failed")]);
    await page.check("#select-all");
    expect(await page.locator("#selection-count").textContent()).toBe("3 selected");
    await page.click('button[value="retry"]');
    await page.locator(".flash").waitFor();
    expect(await flash()).toBe('Retry completed: 1 re-dispatched to backend "cloud", 1 succeeded, 1 failed again.');
    expect(page.url()).toMatch(/status=FAILED/);
    const [payment, receipt, invoice] = await Promise.all(failedIds.map(task));
    expect(payment).toMatchObject({ status: "FAILED", attempts: 4 });
    expect(payment.workerIds.at(-1)).toBe("admin-retry");
    expect(payment.errors.at(-1)!.message).toBe("Payment gateway timed out capturing order 50150");
    expect(receipt).toMatchObject({ status: "SUCCESSFUL", returnValue: { sent: true, orderId: 50_151 } });
    expect(receipt.workerIds.at(-1)).toBe("admin-retry");
    expect(invoice).toMatchObject({ status: "READY", attempts: 1, workerIds: ["seed-worker"] });
    expect(redispatched).toEqual([[failedIds[2]]]);
    expect(await rowIds()).toEqual([failedIds[0]]);
  });

  it("retries one task from its detail page and comes back to it", async () => {
    await page.goto(`${server.url}/tasks/${failedIds[0]}`);
    await page.click('button[value="retry"]');
    await page.locator(".flash").waitFor();
    expect(page.url()).toBe(`${server.url}/tasks/${failedIds[0]}`);
    expect(await flash()).toBe("Retry completed: 1 failed again.");
    expect(await page.locator("article.error").count()).toBe(5);
    expect((await task(failedIds[0])).attempts).toBe(5);
  });
});
