/**
 * graphile-worker in the configuration its performance page documents for
 * throughput: a local queue that fetches jobs in batches, and batched job
 * completion; LISTEN/NOTIFY wake-ups (always on) with the default 2 s poll.
 */
import { Logger, makeWorkerUtils, run, runMigrations, type Runner } from "graphile-worker";
import pg from "pg";
import { installedVersion, type QueueSystem } from "./system.ts";

const TASK = "bench_noop";
const LOCAL_QUEUE_SIZE = 500;

/** Warnings and errors only. */
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") process.stderr.write(`[graphile-worker] ${level} ${message}\n`);
});

export const graphileWorker: QueueSystem = {
  name: "graphile-worker",
  version: installedVersion("graphile-worker"),
  configuration: {
    run: "run({ pgPool, concurrency: 8, taskList, pollInterval: 2000, noHandleSignals: true })",
    pool: "pg.Pool, max 10 (the default maxPoolSize)",
    "preset.worker": { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    enqueue: "workerUtils.addJob(); bulk: workerUtils.addJobs([...])",
    wakeUp: "LISTEN/NOTIFY (built in)",
  },
  unfinishedSql: "SELECT count(*) FROM graphile_worker._private_jobs",

  async install(url) {
    await runMigrations({ connectionString: url, logger });
  },

  async producer(url) {
    const utils = await makeWorkerUtils({ connectionString: url, logger });
    await utils.withPgClient((client) => client.query("SELECT 1"));
    return {
      enqueue: async (payload) => {
        await utils.addJob(TASK, payload);
      },
      enqueueMany: async (payloads) => {
        await utils.addJobs(payloads.map((payload) => ({ identifier: TASK, payload })));
      },
      close: async () => {
        await utils.release();
      },
    };
  },

  async prepareWorker(url, { concurrency, pollSeconds, handler }) {
    const pgPool = new pg.Pool({ connectionString: url, max: 10 });
    pgPool.on("error", (error) => logger.error(`pool: ${error.message}`));
    pgPool.on("connect", (client) => client.on("error", (error) => logger.error(`client: ${error.message}`)));
    // Open the connections now, not on the drain clock.
    const clients = await Promise.all(Array.from({ length: 4 }, () => pgPool.connect()));
    for (const client of clients) client.release();
    let runner: Runner | null = null;
    return {
      async start() {
        runner = await run({
          pgPool,
          concurrency,
          pollInterval: pollSeconds * 1000,
          noHandleSignals: true,
          crontab: "",
          logger,
          taskList: {
            [TASK]: async (payload) => {
              handler(payload as { n: number; tag?: number });
            },
          },
          preset: {
            worker: {
              localQueue: { size: LOCAL_QUEUE_SIZE },
              completeJobBatchDelay: 0,
              failJobBatchDelay: 0,
            },
          },
        });
      },
      async stop() {
        await runner?.stop();
        await pgPool.end();
      },
    };
  },
};
