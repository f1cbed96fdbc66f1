/**
 * How the admin list behaves on a big table (not part of the test suite;
 * speed is measured here, never asserted in tests). Fills a fresh PostgreSQL
 * database with 1,000,000 tasks by generate_series, then times pages through
 * real HTTP and prints the plans PostgreSQL chose.
 *
 *   node test/admin/pagination-bench.ts [rows]
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { close, configure, getRuntime } from "../../src/index.ts";
import { listTaskPage, taskSummary, type Cursor, type TaskFilter } from "../../src/admin/queries.ts";
import { encodeCursor } from "../../src/admin/params.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import { createTestDatabase } from "../helpers/databases.ts";
import { silentLogger, startAdmin } from "./helpers.ts";

const ROWS = Number(process.argv[2] ?? 1_000_000);
const RUNS = 15;
const out: string[] = [];
const say = (line = "") => {
  out.push(line);
  console.log(line);
};

const db = await createTestDatabase("postgres");
try {
  configure({ database: db.url, logger: silentLogger });
  const runtime = await getRuntime();
  const storage = runtime.storage();
  await storage.migrate();
  const knex = storage.knex;

  let started = performance.now();
  // Ten tasks per millisecond share enqueued_at (as enqueueMany leaves them); ~1.5% READY, 1% FAILED, 0.5% RUNNING.
  // Ids are UUIDv7 stamped with that millisecond, as enqueue makes them.
  await knex.raw(
    `INSERT INTO ${TASK_TABLE} (id, task_name, queue_name, backend_name, priority, status, args, errors, worker_ids, attempts, max_attempts,
                                available_at, enqueued_at, started_at, finished_at)
     SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12))::uuid,
            'app.tasks.job_' || (g % 20),
            (ARRAY['default','emails','reports','billing','search'])[1 + g % 5],
            CASE WHEN g % 7 = 0 THEN 'cloud' ELSE 'default' END,
            g % 3,
            CASE WHEN g % 200 IN (1, 2, 3) THEN 'READY' WHEN g % 100 = 4 THEN 'FAILED' WHEN g % 200 = 5 THEN 'RUNNING' ELSE 'SUCCESSFUL' END,
            jsonb_build_array(g, 'payload-' || g),
            '[]', '["bench-worker"]', 1, 1,
            ts, ts, ts + interval '5 ms', ts + interval '50 ms'
       FROM generate_series(1, ?) AS g,
            LATERAL (SELECT timestamptz '2024-01-01' + (g / 10) * interval '1 millisecond' * 37 AS ts) AS t,
            LATERAL (SELECT lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') AS h, md5(g::text) AS r) AS v`,
    [ROWS],
  );
  await knex.raw(`VACUUM ANALYZE ${TASK_TABLE}`);
  say(`# Admin list on PostgreSQL ${(await knex.raw("SHOW server_version")).rows[0].server_version}, ${ROWS.toLocaleString("en-US")} tasks`);
  say(`(inserted in ${((performance.now() - started) / 1000).toFixed(1)} s; ${RUNS} timed runs after one warm-up; median / max)`);
  say();

  const noFilter: TaskFilter = { status: null, queue: null, backend: null, search: null };
  /** The cursor `depth` rows down the filtered, newest-first order: where page depth/50 + 1 starts. */
  async function cursorAt(filter: TaskFilter, depth: number): Promise<Cursor> {
    const q = knex(TASK_TABLE).select("id").orderBy("id", "desc");
    if (filter.status) q.where("status", filter.status);
    if (filter.queue) q.where("queue_name", filter.queue);
    const row = await q.offset(depth).limit(1).first();
    return { id: row.id as string };
  }

  const token = "bench-token-0123456789";
  let server = await startAdmin({ bearerToken: token });
  function report(samples: number[]): string {
    samples.sort((a, b) => a - b);
    return `${samples[Math.floor(samples.length / 2)].toFixed(1)} / ${samples[samples.length - 1].toFixed(1)} ms`;
  }
  async function time(fn: () => Promise<unknown>, { before }: { before?: () => Promise<void> } = {}): Promise<string> {
    await before?.();
    await fn();
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await before?.();
      started = performance.now();
      await fn();
      samples.push(performance.now() - started);
    }
    return report(samples);
  }
  const page = (query: string) => async () => {
    const response = await fetch(`${server.url}/${query}`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`HTTP ${response.status} for ${query}`);
    await response.text();
  };
  /** A router of its own per sample: its count cache is empty, as on the first visit. */
  const freshRouter = async () => {
    await server.close();
    server = await startAdmin({ bearerToken: token });
  };

  const failed: TaskFilter = { ...noFilter, status: "FAILED" };
  const emails: TaskFilter = { ...noFilter, queue: "emails" };
  const deep = await cursorAt(noFilter, Math.floor(ROWS * 0.9));
  const deepFailed = await cursorAt(failed, Math.floor(ROWS * 0.01 * 0.9));
  const deepEmails = await cursorAt(emails, Math.floor(ROWS * 0.2 * 0.9));
  const someId = (await knex(TASK_TABLE).select("id").offset(123_456).limit(1).first()).id as string;

  const cases: Array<[string, string, TaskFilter, Cursor | null]> = [
    ["page 1", "", noFilter, null],
    ["deep page (row 900,000)", `?older=${encodeCursor(deep)}`, noFilter, deep],
    ["status=FAILED, page 1", "?status=FAILED", failed, null],
    ["status=FAILED, deep page", `?status=FAILED&older=${encodeCursor(deepFailed)}`, failed, deepFailed],
    ["queue=emails, deep page", `?queue=emails&older=${encodeCursor(deepEmails)}`, emails, deepEmails],
    ["search: whole id", `?q=${someId}`, { ...noFilter, search: someId }, null],
    ["search: 8-char id prefix", `?q=${someId.slice(0, 8)}`, { ...noFilter, search: someId.slice(0, 8) }, null],
    ["search: short id (last 8, as listed)", `?q=${someId.slice(-8)}`, { ...noFilter, search: someId.slice(-8) }, null],
    ["search: name part", "?q=job_13", { ...noFilter, search: "job_13" }, null],
    ["search: name matching nothing", "?q=no_such_job", { ...noFilter, search: "no_such_job" }, null],
    ["status=RUNNING (0.5%), page 1", "?status=RUNNING", { ...noFilter, status: "RUNNING" }, null],
  ];

  say("| view | list query alone | page over HTTP, counts computed (first visit) | page over HTTP, counts reused |");
  say("|---|---|---|---|");
  for (const [label, query, filter, older] of cases) {
    const list = await time(() => listTaskPage(storage, { filter, limit: 50, older }));
    const cold = await time(page(query), { before: freshRouter });
    const warm = await time(page(query));
    say(`| ${label} | ${list} | ${cold} | ${warm} |`);
  }
  say(`| counts per status, queue and backend (one GROUP BY) | ${await time(() => taskSummary(storage))} | | |`);
  say();

  async function explain(label: string, run: () => Promise<unknown>): Promise<void> {
    const captured: Array<{ sql: string; bindings: unknown[] }> = [];
    const listener = (q: { sql: string; bindings: unknown[] }) => captured.push(q);
    knex.on("query", listener);
    await run();
    knex.off("query", listener);
    const { sql, bindings } = captured[0];
    const plan = await knex.raw(`EXPLAIN (ANALYZE, BUFFERS) ${sql.replace(/\$\d+/g, "?")}`, bindings as never);
    say(`## ${label}`);
    say("```");
    say(sql);
    for (const row of plan.rows) say(row["QUERY PLAN"]);
    say("```");
  }
  await explain("page 1", () => listTaskPage(storage, { filter: noFilter, limit: 50 }));
  await explain("deep page (row 900,000)", () => listTaskPage(storage, { filter: noFilter, limit: 50, older: deep }));
  await explain("status=FAILED, deep page", () => listTaskPage(storage, { filter: failed, limit: 50, older: deepFailed }));
  await explain("search: 8-char id prefix", () => listTaskPage(storage, { filter: { ...noFilter, search: someId.slice(0, 8) }, limit: 50 }));
  await explain("search: short id (last 8, as listed)", () => listTaskPage(storage, { filter: { ...noFilter, search: someId.slice(-8) }, limit: 50 }));
  await explain("search: name matching nothing", () => listTaskPage(storage, { filter: { ...noFilter, search: "no_such_job" }, limit: 50 }));
  await explain("counts", () => taskSummary(storage));

  // What an index would buy the counts (not in the migrations: measured here to decide).
  await knex.raw(`CREATE INDEX bench_status_scope_idx ON ${TASK_TABLE} (status, queue_name, backend_name)`);
  await knex.raw(`VACUUM ANALYZE ${TASK_TABLE}`);
  say();
  say(`With a trial index (status, queue_name, backend_name): counts ${await time(() => taskSummary(storage))}`);
  await explain("counts with the trial index", () => taskSummary(storage));
  await knex.raw("DROP INDEX bench_status_scope_idx");

  await server.close();
  mkdirSync("test-output", { recursive: true });
  writeFileSync("test-output/admin-pagination-bench.md", out.join("\n") + "\n");
} finally {
  await close();
  await db.drop();
}
