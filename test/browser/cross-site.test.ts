/**
 * A web page on another origin attacks a development `database-task serve`
 * (no credentials configured, as on a laptop) through the visitor's browser:
 * an auto-submitted `text/plain` form to /tasks/run/, `<img>` tags on
 * /tasks/purge/, `no-cors` fetches. Real Chromium, real child process: the
 * server must see each request and refuse it, and the database must not change.
 */
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure, getRuntime, runTaskById } from "../../src/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { listeningAddress, ROOT, runCli, startCli } from "../helpers/cli.ts";
import { count } from "../http/fixtures/tasks.ts";
import { launchChromium, type Chromium } from "./chromium.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe("a page on another origin against a development serve", () => {
  let dir: string;
  let chromium: Chromium;
  let serve: ReturnType<typeof startCli>;
  let target = "";
  let attacker: Server;
  let attackerUrl = "";

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "database-task-cross-site-"));
    const database = `sqlite://${path.join(dir, "tasks.sqlite3")}`;
    writeFileSync(
      path.join(dir, "database-task.config.mjs"),
      `export default { database: ${JSON.stringify(database)}, tasks: [${JSON.stringify(path.join(ROOT, "test/http/fixtures/tasks.ts"))}] };\n`,
    );
    expect((await runCli(["migrate"], { cwd: dir })).code).toBe(0);
    configure({ database, logger: quiet });
    serve = startCli(["serve", "--port", "0"], { cwd: dir, env: { NODE_ENV: "", HOST: "", K_SERVICE: "", GAE_SERVICE: "" } });
    const address = await listeningAddress(serve);
    if (!address) throw new Error(`serve exited: ${(await serve.result).stderr}`);
    target = address;
    attacker = createServer((_req, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><title>cute cats</title>
<iframe name="sink"></iframe>
<form id="run" method="post" action="${target}/tasks/run/" enctype="text/plain" target="sink"><input name='{"max_tasks": 10, "x": "' value='"}'></form>
<img src="${target}/tasks/purge/">
<img src="${target}/tasks/purge/?dry_run=false&status=SUCCESSFUL,FAILED">
<script>
  fetch("${target}/tasks/run-one/", { method: "POST", mode: "no-cors", body: "{}" });
  fetch("${target}/tasks/purge/", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: "{}" });
  document.getElementById("run").submit();
</script>`);
    });
    // localhost, where the server is 127.0.0.1: another origin (and another site) to the browser.
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    attackerUrl = `http://localhost:${(attacker.address() as { port: number }).port}/`;
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    attacker?.close();
    serve?.kill("SIGTERM");
    await serve?.result;
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every request reaches the server and is refused; no task runs, none is deleted", async () => {
    const pending = [await count.enqueue("a"), await count.enqueue("b")];
    const finished = await count.enqueue("done");
    await runTaskById(finished.id);
    const knex = (await getRuntime()).storage().knex;
    const before = await knex(TASK_TABLE).orderBy("id").select("id", "status", "attempts");

    const page = await chromium.context.newPage();
    const answered: Array<{ method: string; url: string; status: number }> = [];
    page.on("response", (response) => {
      if (response.url().startsWith(target)) answered.push({ method: response.request().method(), url: response.url().slice(target.length), status: response.status() });
    });
    const sent: string[] = [];
    page.on("request", (r) => {
      if (r.url().startsWith(target)) sent.push(`${r.method()} ${r.url().slice(target.length)}`);
    });
    await page.goto(attackerUrl);
    const deadline = Date.now() + 15_000;
    while (answered.length < 3 && Date.now() < deadline) await page.waitForTimeout(100);
    await page.waitForTimeout(500); // the images' answers, which the page never sees
    await page.close();

    // The browser sent every attack to the server.
    expect(sent.sort()).toEqual([
      "GET /tasks/purge/", // <img>: answered 405 (GET never deletes outside App Engine cron); Chromium hides the answer (ORB)
      "GET /tasks/purge/?dry_run=false&status=SUCCESSFUL,FAILED",
      "POST /tasks/purge/", // no-cors fetches
      "POST /tasks/run-one/",
      "POST /tasks/run/", // the auto-submitted text/plain form
    ]);
    // Each POST was refused as cross-site (Chromium marks them Sec-Fetch-Site: cross-site, Origin: the attacker's page).
    expect(Object.fromEntries(answered.filter((a) => a.method === "POST").map((a) => [a.url, a.status]))).toEqual({
      "/tasks/run/": 403,
      "/tasks/run-one/": 403,
      "/tasks/purge/": 403,
    });
    expect(await knex(TASK_TABLE).orderBy("id").select("id", "status", "attempts")).toEqual(before);
    expect(before.filter((row: { status: string }) => row.status === "READY").map((row: { id: string }) => row.id).sort()).toEqual(pending.map((p) => p.id).sort());
  });
});
