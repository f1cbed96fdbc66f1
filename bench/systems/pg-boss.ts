/**
 * pg-boss with LISTEN/NOTIFY on (useListenNotify and a notify queue), fetching
 * 8 jobs per round trip and fetching again at once while batches come back
 * full (burstWhenBatchFull); the 8 jobs of a batch run concurrently.
 */
import { PgBoss } from "pg-boss";
import { installedVersion, type Payload, type QueueSystem } from "./system.ts";

const QUEUE = "bench";

function report(error: Error): void {
  process.stderr.write(`[pg-boss] error ${error.message}\n`);
}

export const pgBoss: QueueSystem = {
  name: "pg-boss",
  version: installedVersion("pg-boss"),
  configuration: {
    constructor: "new PgBoss({ connectionString, useListenNotify: true }) in the worker; the producer with supervise: false, schedule: false",
    queue: `createQueue("${QUEUE}", { notify: true }) (policy standard)`,
    work: {
      batchSize: 8,
      localConcurrency: 1,
      burstWhenBatchFull: true,
      pollingIntervalSeconds: 2,
      notifyPollingIntervalSeconds: 2,
    },
    enqueue: "boss.send(); bulk: boss.insert(queue, [...])",
  },
  unfinishedSql: `SELECT count(*) FROM pgboss.job WHERE name = '${QUEUE}' AND state < 'completed'`,

  async install(url) {
    const boss = new PgBoss({ connectionString: url, supervise: false, schedule: false });
    boss.on("error", report);
    await boss.start();
    await boss.createQueue(QUEUE, { notify: true });
    await boss.stop({ graceful: false, close: true });
  },

  async producer(url) {
    const boss = new PgBoss({ connectionString: url, supervise: false, schedule: false, migrate: false });
    boss.on("error", report);
    await boss.start();
    return {
      enqueue: async (payload) => {
        await boss.send(QUEUE, payload);
      },
      enqueueMany: async (payloads) => {
        await boss.insert(
          QUEUE,
          payloads.map((data) => ({ data })),
        );
      },
      close: () => boss.stop({ graceful: false, close: true }),
    };
  },

  async prepareWorker(url, { concurrency, pollSeconds, handler }) {
    const boss = new PgBoss({ connectionString: url, useListenNotify: true, migrate: false });
    boss.on("error", report);
    await boss.start();
    return {
      async start() {
        await boss.work<Payload>(
          QUEUE,
          {
            batchSize: concurrency,
            localConcurrency: 1,
            burstWhenBatchFull: true,
            pollingIntervalSeconds: pollSeconds,
            notifyPollingIntervalSeconds: pollSeconds,
          },
          async (jobs) => {
            await Promise.all(jobs.map(async (job) => handler(job.data)));
          },
        );
      },
      async stop() {
        await boss.stop({ graceful: true, close: true, timeout: 10_000 });
      },
    };
  },
};
