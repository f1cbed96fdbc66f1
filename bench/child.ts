/**
 * A worker process for one system: `node bench/child.ts` with BENCH_SYSTEM,
 * BENCH_DB_URL, BENCH_CONCURRENCY and BENCH_POLL_SECONDS in the environment,
 * driven by the parent over IPC (bench/protocol.ts). It prepares the worker
 * (connections open, nothing claimed), reports "ready", and starts claiming
 * when told to. The job body is a no-op that counts and, for latency probes,
 * reports when it started.
 */
import type { ChildMessage, ParentMessage } from "./protocol.ts";
import { loadSystem, type Payload } from "./systems/system.ts";
import { now } from "./util.ts";

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send) process.send(message, undefined, {}, () => resolve());
    else resolve();
  });
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`bench/child.ts: ${name} is not set (this file is started by bench/run.ts)`);
  return value;
}

// The parent going away (finished, crashed or interrupted) ends the child too.
process.on("disconnect", () => process.exit(0));

let handled = 0;
let watchTarget: number | null = null;

function checkWatch(): void {
  if (watchTarget !== null && handled >= watchTarget) {
    watchTarget = null;
    void send({ type: "reached", count: handled, at: now() });
  }
}

function handler(payload: Payload): { n: number } {
  handled++;
  if (payload.tag !== undefined) void send({ type: "jobStarted", tag: payload.tag, at: now() });
  if (watchTarget !== null) checkWatch();
  return { n: payload.n };
}

try {
  const system = await loadSystem(required("BENCH_SYSTEM"));
  const worker = await system.prepareWorker(required("BENCH_DB_URL"), {
    concurrency: Number(required("BENCH_CONCURRENCY")),
    pollSeconds: Number(required("BENCH_POLL_SECONDS")),
    handler,
  });

  process.on("message", (message: ParentMessage) => {
    void (async () => {
      switch (message.cmd) {
        case "start": {
          const at = now();
          await worker.start();
          void send({ type: "started", at, returnedAt: now() });
          break;
        }
        case "watch":
          watchTarget = message.count;
          checkWatch();
          break;
        case "rss": {
          const { rss, heapUsed } = process.memoryUsage();
          const collect = (globalThis as { gc?: () => void }).gc;
          let heapAfterGc: number | undefined;
          if (message.gc && collect) {
            collect();
            heapAfterGc = process.memoryUsage().heapUsed;
          }
          void send({ type: "rss", rss, heapUsed, heapAfterGc, handled });
          break;
        }
        case "stop":
          await worker.stop();
          await send({ type: "stopped" });
          process.disconnect?.();
          break;
      }
    })().catch((error: unknown) => {
      void send({ type: "failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    });
  });

  void send({ type: "ready", pid: process.pid });
} catch (error) {
  await send({ type: "failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
  process.disconnect?.();
}
