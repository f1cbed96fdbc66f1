import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { clientFor, duration, startTarget, timestampMs, uniqueQueueId, type Target } from "./helpers.ts";

const PROJECT = "demo-project";
const LOCATION = "us-central1";

let emulator: RunningEmulator;
let client: ReturnType<typeof clientFor>;
const targets: Target[] = [];

async function target(...args: Parameters<typeof startTarget>): Promise<Target> {
  const started = await startTarget(...args);
  targets.push(started);
  return started;
}

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, certsPort: 0 });
  client = clientFor(emulator);
});

afterAll(async () => {
  await client?.close();
  await emulator?.stop();
  await Promise.all(targets.map((t) => t.close()));
});

/** A queue with fast retries, created through the real client as a user would. */
async function fastQueue(retry: { maxAttempts?: number; minBackoff?: number; maxBackoff?: number; maxDoublings?: number } = {}, rate = {}) {
  const name = client.queuePath(PROJECT, LOCATION, uniqueQueueId());
  await client.createQueue({
    parent: client.locationPath(PROJECT, LOCATION),
    queue: {
      name,
      rateLimits: rate,
      retryConfig: {
        maxAttempts: retry.maxAttempts ?? 5,
        minBackoff: duration(retry.minBackoff ?? 0.05),
        maxBackoff: duration(retry.maxBackoff ?? 1),
        maxDoublings: retry.maxDoublings ?? 16,
      },
    },
  });
  return name;
}

describe("Cloud Tasks emulator: dispatch", () => {
  it("POSTs the task's body and headers with the Cloud Tasks headers, then deletes the task", async () => {
    const server = await target();
    const queue = await fastQueue();
    const [task] = await client.createTask({
      parent: queue,
      task: {
        name: `${queue}/tasks/deliver-1`,
        httpRequest: {
          url: `${server.url}/tasks/execute/abc/?fail_on_error=true`,
          headers: { "Content-Type": "application/json", "X-Custom": "kept", "User-Agent": "mine", "X-CloudTasks-QueueName": "spoofed" },
          body: Buffer.from('{"task_id":"abc"}'),
        },
      },
    });
    const outcome = await emulator.waitForTask(task.name!, { timeoutMs: 5000 });
    expect(outcome).toMatchObject({ outcome: "succeeded", dispatchCount: 1, responseCount: 1, lastHttpStatus: 200 });

    expect(server.requests).toHaveLength(1);
    const [received] = server.requests;
    expect(received.method).toBe("POST");
    expect(received.url).toBe("/tasks/execute/abc/?fail_on_error=true");
    expect(received.body.toString()).toBe('{"task_id":"abc"}');
    expect(received.headers).toMatchObject({
      "content-type": "application/json",
      "x-custom": "kept",
      "user-agent": "Google-Cloud-Tasks",
      "x-cloudtasks-queuename": queue.split("/").at(-1),
      "x-cloudtasks-taskname": "deliver-1",
      "x-cloudtasks-taskretrycount": "0",
      "x-cloudtasks-taskexecutioncount": "0",
    });
    // ETA is the schedule time in epoch seconds with a fraction, the same instant the API reported.
    const eta = received.headers["x-cloudtasks-tasketa"] as string;
    expect(eta).toMatch(/^\d+\.\d{6}$/);
    expect(Number(eta) * 1000).toBeCloseTo(timestampMs(task.scheduleTime), 0);
    expect(received.headers["x-cloudtasks-taskpreviousresponse"]).toBeUndefined();
    expect(received.headers["x-cloudtasks-taskretryreason"]).toBeUndefined();
    expect(received.headers.authorization).toBeUndefined();

    const [err] = await Promise.allSettled([client.getTask({ name: task.name! })]);
    expect(err.status).toBe("rejected");
  });

  it("adds no Content-Type of its own to HTTP tasks and supports other methods", async () => {
    const server = await target();
    const queue = await fastQueue();
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/put`, httpMethod: "PUT", body: Buffer.from("raw") } } });
    await emulator.waitForTask(task.name!);
    expect(server.requests[0].method).toBe("PUT");
    expect(server.requests[0].headers["content-type"]).toBeUndefined();
    expect(server.requests[0].body.toString()).toBe("raw");
    // Unnamed tasks get a server-chosen numeric id, which is what the target sees.
    expect(server.requests[0].headers["x-cloudtasks-taskname"]).toMatch(/^\d+$/);
    expect(task.name!.endsWith(`/tasks/${server.requests[0].headers["x-cloudtasks-taskname"]}`)).toBe(true);
  });

  it("retries a failing task with the queue's backoff and drops it after max attempts", async () => {
    const server = await target(() => 500);
    const queue = await fastQueue({ maxAttempts: 4, minBackoff: 0.05, maxBackoff: 1, maxDoublings: 2 });
    const [task] = await client.createTask({ parent: queue, task: { name: `${queue}/tasks/always-fails`, httpRequest: { url: `${server.url}/fail` } } });
    const outcome = await emulator.waitForTask(task.name!, { timeoutMs: 5000 });
    expect(outcome).toMatchObject({ outcome: "failed", dispatchCount: 4, responseCount: 4, lastHttpStatus: 500 });
    expect(server.requests).toHaveLength(4);

    // 50 ms, doubled twice (max_doublings 2): 50, 100, 200 ms between attempts.
    const gaps = server.requests.slice(1).map((r, i) => r.receivedAt - server.requests[i].receivedAt);
    [50, 100, 200].forEach((expected, i) => expect(gaps[i]).toBeGreaterThanOrEqual(expected - 3));
    expect(gaps[2]).toBeGreaterThan(gaps[0] + 100);

    expect(server.requests.map((r) => r.headers["x-cloudtasks-taskretrycount"])).toEqual(["0", "1", "2", "3"]);
    // 5xx answers do not count as executions.
    expect(server.requests.map((r) => r.headers["x-cloudtasks-taskexecutioncount"])).toEqual(["0", "0", "0", "0"]);
    expect(server.requests.map((r) => r.headers["x-cloudtasks-taskpreviousresponse"])).toEqual([undefined, "500", "500", "500"]);
    expect(server.requests[1].headers["x-cloudtasks-taskretryreason"]).toBeTruthy();

    const attempts = emulator.attempts({ taskName: task.name! });
    expect(attempts.map((a) => [a.attempt, a.httpStatus])).toEqual([[1, 500], [2, 500], [3, 500], [4, 500]]);
    // Nothing more arrives once the attempts are used up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.requests).toHaveLength(4);
  });

  it("counts non-5xx answers as executions and reports the previous response", async () => {
    const server = await target((_, index) => (index === 0 ? 404 : 200));
    const queue = await fastQueue();
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/x` } } });
    await emulator.waitForTask(task.name!);
    expect(server.requests[1].headers).toMatchObject({
      "x-cloudtasks-taskretrycount": "1",
      "x-cloudtasks-taskexecutioncount": "1",
      "x-cloudtasks-taskpreviousresponse": "404",
    });
  });

  it("does not deliver a task before its schedule time", async () => {
    const server = await target();
    const queue = await fastQueue();
    const scheduledMs = Date.now() + 400;
    const [task] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${server.url}/later` }, scheduleTime: { seconds: Math.floor(scheduledMs / 1000), nanos: (scheduledMs % 1000) * 1e6 } },
    });
    expect(timestampMs(task.scheduleTime)).toBe(scheduledMs);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.requests).toHaveLength(0);
    const [pending] = await client.getTask({ name: task.name! });
    expect(pending.dispatchCount).toBe(0);
    await emulator.waitForTask(task.name!, { timeoutMs: 3000 });
    expect(server.requests[0].receivedAt).toBeGreaterThanOrEqual(scheduledMs);
  });

  it("fails an attempt that exceeds the dispatch deadline and retries it", async () => {
    const server = await target((_, index) => (index === 0 ? { status: 200, delayMs: 1500 } : 200));
    const queue = await fastQueue();
    const [task] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${server.url}/slow` }, dispatchDeadline: duration(0.2) },
    });
    expect(Number(task.dispatchDeadline!.nanos)).toBe(200_000_000);
    const outcome = await emulator.waitForTask(task.name!, { timeoutMs: 5000 });
    expect(outcome.outcome).toBe("succeeded");
    const attempts = emulator.attempts({ taskName: task.name! });
    expect(attempts[0]).toMatchObject({ error: "DEADLINE_EXCEEDED" });
    expect(attempts[0].httpStatus).toBeUndefined();
    expect(attempts[1]).toMatchObject({ httpStatus: 200 });
    expect(server.requests[1].headers["x-cloudtasks-taskretryreason"]).toBe("DEADLINE_EXCEEDED");
  });

  it("follows redirects within one attempt", async () => {
    const server = await target((request) => (request.url === "/old" ? { status: 307, headers: { Location: "/new" } } : 200));
    const queue = await fastQueue();
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/old`, body: Buffer.from("b") } } });
    const outcome = await emulator.waitForTask(task.name!);
    expect(outcome).toMatchObject({ outcome: "succeeded", dispatchCount: 1 });
    expect(server.requests.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual(["POST /old b", "POST /new b"]);
  });

  it("keeps to max_concurrent_dispatches", async () => {
    let running = 0;
    let peak = 0;
    const server = await target(() => {
      running++;
      peak = Math.max(peak, running);
      setTimeout(() => running--, 80);
      return { status: 200, delayMs: 80 };
    });
    const queue = await fastQueue({}, { maxConcurrentDispatches: 1 });
    const names = await Promise.all(
      [1, 2, 3].map(async () => (await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/c` } } }))[0].name!),
    );
    await Promise.all(names.map((name) => emulator.waitForTask(name, { timeoutMs: 5000 })));
    expect(server.requests).toHaveLength(3);
    expect(peak).toBe(1);
  });

  it("sends App Engine tasks to the configured App Engine host with X-AppEngine-* headers", async () => {
    const server = await target();
    const appEngine = await startEmulator({ appEngineHost: server.url });
    const aeClient = clientFor(appEngine);
    try {
      const queue = aeClient.queuePath(PROJECT, LOCATION, "ae-queue");
      const [task] = await aeClient.createTask({
        parent: queue,
        task: {
          name: `${queue}/tasks/ae-1`,
          appEngineHttpRequest: { relativeUri: "/tasks/run?x=1", body: Buffer.from("payload"), appEngineRouting: { service: "worker" } },
        },
      });
      expect(task.appEngineHttpRequest?.appEngineRouting?.host).toBe(`worker.${new URL(server.url).host}`);
      await appEngine.waitForTask(task.name!);
      expect(server.requests[0].url).toBe("/tasks/run?x=1");
      expect(server.requests[0].headers).toMatchObject({
        "user-agent": "AppEngine-Google; (+http://code.google.com/appengine)",
        "content-type": "application/octet-stream",
        "x-appengine-queuename": "ae-queue",
        "x-appengine-taskname": "ae-1",
        "x-appengine-taskretrycount": "0",
        "x-appengine-taskexecutioncount": "0",
      });
      expect(server.requests[0].headers["x-appengine-tasketa"]).toMatch(/^\d+\.\d{6}$/);
    } finally {
      await aeClient.close();
      await appEngine.stop();
    }
  });
});
