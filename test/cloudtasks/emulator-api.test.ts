import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { clientFor, duration, rpcCode, startTarget, timestampMs, uniqueQueueId, waitFor, type Target } from "./helpers.ts";

const PROJECT = "demo-project";
const LOCATION = "europe-west1";

let emulator: RunningEmulator;
let client: ReturnType<typeof clientFor>;
let server: Target;
const failing = new Set<string>();

beforeAll(async () => {
  emulator = await startEmulator();
  client = clientFor(emulator);
  // Paths listed in `failing` answer 500, every other one 200.
  server = await startTarget((request) => (failing.has(request.url) ? 500 : 200));
});

afterAll(async () => {
  await client?.close();
  await emulator?.stop();
  await server?.close();
});

const location = () => client.locationPath(PROJECT, LOCATION);
const newQueueName = () => client.queuePath(PROJECT, LOCATION, uniqueQueueId());
const httpTask = (path = "/ok") => ({ httpRequest: { url: `${server.url}${path}` } });
const inOneHour = () => ({ seconds: Math.floor(Date.now() / 1000) + 3600 });

describe("Cloud Tasks emulator: queues", () => {
  it("creates queues with Cloud Tasks' default settings", async () => {
    const name = newQueueName();
    const [queue] = await client.createQueue({ parent: location(), queue: { name } });
    expect(queue.name).toBe(name);
    expect(queue.state).toBe("RUNNING");
    expect(queue.retryConfig).toMatchObject({ maxAttempts: 100, maxDoublings: 16 });
    expect(timestampMs(queue.retryConfig!.minBackoff)).toBe(100);
    expect(timestampMs(queue.retryConfig!.maxBackoff)).toBe(3600_000);
    expect(queue.rateLimits).toMatchObject({ maxDispatchesPerSecond: 500, maxConcurrentDispatches: 1000, maxBurstSize: 100 });
    expect((await rpcCode(client.createQueue({ parent: location(), queue: { name } }))).code).toBe(status.ALREADY_EXISTS);
  });

  it("auto-creates a queue on the first CreateTask", async () => {
    const name = newQueueName();
    await client.createTask({ parent: name, task: { ...httpTask(), scheduleTime: inOneHour() } });
    const [queue] = await client.getQueue({ name });
    expect(queue.retryConfig?.maxAttempts).toBe(100);
  });

  it("rejects bad queue ids and unknown queues", async () => {
    const bad = await rpcCode(client.createQueue({ parent: location(), queue: { name: `${location()}/queues/bad_id` } }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toContain('Queue ID "bad_id"');
    const tooLong = await rpcCode(client.createQueue({ parent: location(), queue: { name: `${location()}/queues/${"q".repeat(101)}` } }));
    expect(tooLong.code).toBe(status.INVALID_ARGUMENT);
    expect((await rpcCode(client.getQueue({ name: newQueueName() }))).code).toBe(status.NOT_FOUND);
  });

  it("answers NOT_FOUND for tasks in unknown queues when auto-creation is off", async () => {
    const strict = await startEmulator({ autoCreateQueues: false });
    const strictClient = clientFor(strict);
    try {
      const error = await rpcCode(strictClient.createTask({ parent: newQueueName(), task: httpTask() }));
      expect(error.code).toBe(status.NOT_FOUND);
    } finally {
      await strictClient.close();
      await strict.stop();
    }
  });

  it("UpdateQueue changes only the masked fields, creates missing queues and validates", async () => {
    const name = newQueueName();
    const [created] = await client.updateQueue({ queue: { name, retryConfig: { maxAttempts: 7 } } });
    expect(created.retryConfig).toMatchObject({ maxAttempts: 7, maxDoublings: 16 });
    const [updated] = await client.updateQueue({
      queue: { name, retryConfig: { minBackoff: duration(2), maxAttempts: 99 }, rateLimits: { maxConcurrentDispatches: 3 } },
      updateMask: { paths: ["retry_config.min_backoff", "rate_limits.max_concurrent_dispatches"] },
    });
    expect(updated.retryConfig?.maxAttempts).toBe(7);
    expect(timestampMs(updated.retryConfig!.minBackoff)).toBe(2000);
    expect(updated.rateLimits?.maxConcurrentDispatches).toBe(3);
    const invalid = await rpcCode(client.updateQueue({ queue: { name, retryConfig: { minBackoff: duration(10), maxBackoff: duration(5) } } }));
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
    const badMask = await rpcCode(client.updateQueue({ queue: { name }, updateMask: { paths: ["no_such_field"] } }));
    expect(badMask.code).toBe(status.INVALID_ARGUMENT);
  });

  it("lists queues in order and filters on state", async () => {
    const parent = client.locationPath("list-project", LOCATION);
    const names = ["b", "a", "c"].map((id) => client.queuePath("list-project", LOCATION, id));
    for (const name of names) await client.createQueue({ parent, queue: { name } });
    await client.pauseQueue({ name: names[2] });
    const [all] = await client.listQueues({ parent });
    expect(all.map((q) => q.name!.split("/").at(-1))).toEqual(["a", "b", "c"]);
    const [paused] = await client.listQueues({ parent, filter: "state: PAUSED" });
    expect(paused.map((q) => q.name)).toEqual([names[2]]);
  });

  it("does not dispatch from a paused queue until it is resumed", async () => {
    const name = newQueueName();
    await client.createQueue({ parent: location(), queue: { name } });
    const [paused] = await client.pauseQueue({ name });
    expect(paused.state).toBe("PAUSED");
    const [task] = await client.createTask({ parent: name, task: httpTask("/paused") });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(server.requests.filter((r) => r.url === "/paused")).toHaveLength(0);
    const [resumed] = await client.resumeQueue({ name });
    expect(resumed.state).toBe("RUNNING");
    await emulator.waitForTask(task.name!, { timeoutMs: 3000 });
    expect(server.requests.filter((r) => r.url === "/paused")).toHaveLength(1);
  });

  it("PurgeQueue deletes every task", async () => {
    const name = newQueueName();
    await client.createQueue({ parent: location(), queue: { name } });
    await client.pauseQueue({ name });
    const created = await Promise.all([1, 2, 3].map(async () => (await client.createTask({ parent: name, task: httpTask("/purged") }))[0]));
    const [listed] = await client.listTasks({ parent: name });
    expect(listed).toHaveLength(3);
    const [purged] = await client.purgeQueue({ name });
    expect(timestampMs(purged.purgeTime)).toBeGreaterThan(0);
    expect((await client.listTasks({ parent: name }))[0]).toHaveLength(0);
    expect(created.map((task) => emulator.outcome(task.name!)?.outcome)).toEqual(["purged", "purged", "purged"]);
    await client.resumeQueue({ name });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.requests.filter((r) => r.url === "/purged")).toHaveLength(0);
  });

  it("DeleteQueue removes the queue, whose name then cannot be reused for a while", async () => {
    const name = newQueueName();
    await client.createQueue({ parent: location(), queue: { name } });
    await client.deleteQueue({ name });
    expect((await rpcCode(client.getQueue({ name }))).code).toBe(status.NOT_FOUND);
    expect((await rpcCode(client.createQueue({ parent: location(), queue: { name } }))).code).toBe(status.FAILED_PRECONDITION);
  });
});

describe("Cloud Tasks emulator: tasks", () => {
  it("answers ALREADY_EXISTS for a repeated name: while pending, after running and after deletion", async () => {
    const queue = newQueueName();
    const pending = `${queue}/tasks/pending-task`;
    await client.createTask({ parent: queue, task: { name: pending, ...httpTask(), scheduleTime: inOneHour() } });
    const duplicate = await rpcCode(client.createTask({ parent: queue, task: { name: pending, ...httpTask() } }));
    expect(duplicate.code).toBe(status.ALREADY_EXISTS);

    const ran = `${queue}/tasks/ran-task`;
    await client.createTask({ parent: queue, task: { name: ran, ...httpTask() } });
    await emulator.waitForTask(ran);
    expect((await rpcCode(client.createTask({ parent: queue, task: { name: ran, ...httpTask() } }))).code).toBe(status.ALREADY_EXISTS);

    await client.deleteTask({ name: pending });
    expect((await rpcCode(client.createTask({ parent: queue, task: { name: pending, ...httpTask() } }))).code).toBe(status.ALREADY_EXISTS);
  });

  it("frees a task name once the dedup window has passed", async () => {
    const shortWindow = await startEmulator({ taskDedupWindowMs: 150 });
    const shortClient = clientFor(shortWindow);
    try {
      const queue = newQueueName();
      const name = `${queue}/tasks/reusable`;
      await shortClient.createTask({ parent: queue, task: { name, ...httpTask() } });
      await shortWindow.waitForTask(name);
      expect((await rpcCode(shortClient.createTask({ parent: queue, task: { name, ...httpTask() } }))).code).toBe(status.ALREADY_EXISTS);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const [again] = await shortClient.createTask({ parent: queue, task: { name, ...httpTask() } });
      expect(again.name).toBe(name);
    } finally {
      await shortClient.close();
      await shortWindow.stop();
    }
  });

  it("answers INVALID_ARGUMENT for bad task ids and bad tasks", async () => {
    const queue = newQueueName();
    const badId = await rpcCode(client.createTask({ parent: queue, task: { name: `${queue}/tasks/bad.id`, ...httpTask() } }));
    expect(badId.code).toBe(status.INVALID_ARGUMENT);
    expect(badId.details).toBe(
      'Task ID "bad.id" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.',
    );
    const longId = await rpcCode(client.createTask({ parent: queue, task: { name: `${queue}/tasks/${"a".repeat(501)}`, ...httpTask() } }));
    expect(longId.code).toBe(status.INVALID_ARGUMENT);
    const okId = `${queue}/tasks/${"a".repeat(500)}`;
    expect((await client.createTask({ parent: queue, task: { name: okId, ...httpTask(), scheduleTime: inOneHour() } }))[0].name).toBe(okId);

    const otherQueue = await rpcCode(client.createTask({ parent: queue, task: { name: `${newQueueName()}/tasks/t1`, ...httpTask() } }));
    expect(otherQueue.code).toBe(status.INVALID_ARGUMENT);

    const tooFar = await rpcCode(client.createTask({ parent: queue, task: { ...httpTask(), scheduleTime: { seconds: Math.floor(Date.now() / 1000) + 31 * 86400 } } }));
    expect(tooFar.code).toBe(status.INVALID_ARGUMENT);

    const tooLarge = await rpcCode(client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/big`, body: Buffer.alloc(1024 * 1024 + 1) } } }));
    expect(tooLarge).toMatchObject({ code: status.INVALID_ARGUMENT, details: "Task size too large" });
    const [fits] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/big`, body: Buffer.alloc(900 * 1024) }, scheduleTime: inOneHour() } });
    expect(fits.name).toBeTruthy();

    const getWithBody = await rpcCode(client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/x`, httpMethod: "GET", body: Buffer.from("x") } } }));
    expect(getWithBody.code).toBe(status.INVALID_ARGUMENT);
    expect((await rpcCode(client.createTask({ parent: queue, task: { httpRequest: { url: "ftp://example/x" } } }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await rpcCode(client.createTask({ parent: queue, task: {} }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await rpcCode(client.createTask({ parent: "projects/p/queues/q", task: httpTask() }))).code).toBe(status.INVALID_ARGUMENT);
  });

  it("GetTask and ListTasks return the BASIC view (no body) unless FULL is asked for, with paging", async () => {
    const queue = newQueueName();
    await client.createQueue({ parent: location(), queue: { name: queue } });
    const body = Buffer.from("secret payload");
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [task] = await client.createTask({
        parent: queue,
        task: { httpRequest: { url: `${server.url}/v`, body, headers: { "Content-Type": "text/plain" } }, scheduleTime: inOneHour() },
      });
      names.push(task.name!);
    }
    const [basic] = await client.getTask({ name: names[0] });
    expect(basic.view).toBe("BASIC");
    expect(basic.httpRequest?.url).toBe(`${server.url}/v`);
    expect(basic.httpRequest?.headers).toEqual({ "Content-Type": "text/plain" });
    expect(basic.httpRequest?.body?.length ?? 0).toBe(0);
    expect(timestampMs(basic.createTime)).toBeGreaterThan(0);
    const [full] = await client.getTask({ name: names[0], responseView: "FULL" });
    expect(Buffer.from(full.httpRequest!.body!).toString()).toBe("secret payload");

    const [firstPage, , firstResponse] = await client.listTasks({ parent: queue, pageSize: 2 }, { autoPaginate: false });
    expect(firstPage).toHaveLength(2);
    expect(firstResponse?.nextPageToken).toBeTruthy();
    const [secondPage] = await client.listTasks({ parent: queue, pageSize: 2, pageToken: firstResponse!.nextPageToken! }, { autoPaginate: false });
    expect([...firstPage, ...secondPage].map((t) => t.name).sort()).toEqual([...names].sort());
    const [all] = await client.listTasks({ parent: queue, responseView: "FULL" });
    expect(all.every((t) => Buffer.from(t.httpRequest!.body!).toString() === "secret payload")).toBe(true);
  });

  it("DeleteTask removes a pending task; a second delete and GetTask answer NOT_FOUND", async () => {
    const queue = newQueueName();
    const [task] = await client.createTask({ parent: queue, task: { ...httpTask("/deleted"), scheduleTime: inOneHour() } });
    await client.deleteTask({ name: task.name! });
    const get = await rpcCode(client.getTask({ name: task.name! }));
    expect(get.code).toBe(status.NOT_FOUND);
    expect(get.details).toContain("existed recently");
    expect((await rpcCode(client.deleteTask({ name: task.name! }))).code).toBe(status.NOT_FOUND);
    expect(emulator.outcome(task.name!)?.outcome).toBe("deleted");
  });

  it("keeps dispatchCount, responseCount, firstAttempt and lastAttempt", async () => {
    const queue = newQueueName();
    await client.createQueue({ parent: location(), queue: { name: queue, retryConfig: { minBackoff: duration(60), maxBackoff: duration(60) } } });
    failing.add("/counted");
    const [task] = await client.createTask({ parent: queue, task: httpTask("/counted") });
    const failed = await waitFor(async () => {
      const [current] = await client.getTask({ name: task.name! });
      return current.responseCount === 1 ? current : undefined;
    });
    expect(failed.dispatchCount).toBe(1);
    expect(timestampMs(failed.firstAttempt?.dispatchTime)).toBeGreaterThan(0);
    expect(failed.firstAttempt?.responseTime).toBeFalsy();
    expect(failed.lastAttempt?.responseStatus).toMatchObject({ code: status.INTERNAL });
    expect(timestampMs(failed.lastAttempt?.responseTime)).toBeGreaterThanOrEqual(timestampMs(failed.lastAttempt?.dispatchTime));
    expect(timestampMs(failed.lastAttempt?.scheduleTime)).toBe(timestampMs(task.scheduleTime));
    // The retry is scheduled min_backoff after the failure.
    expect(timestampMs(failed.scheduleTime) - timestampMs(failed.lastAttempt?.responseTime)).toBeCloseTo(60_000, -1);
  });

  it("RunTask dispatches at once, even from a paused queue, and answers NOT_FOUND once the task is done", async () => {
    const queue = newQueueName();
    await client.createQueue({ parent: location(), queue: { name: queue } });
    await client.pauseQueue({ name: queue });
    const [task] = await client.createTask({ parent: queue, task: { ...httpTask("/run-now"), scheduleTime: inOneHour() } });
    const [run] = await client.runTask({ name: task.name! });
    expect(run.dispatchCount).toBe(1);
    expect(timestampMs(run.lastAttempt?.dispatchTime)).toBeGreaterThan(0);
    await emulator.waitForTask(task.name!, { timeoutMs: 3000 });
    expect(server.requests.filter((r) => r.url === "/run-now")).toHaveLength(1);
    expect(emulator.attempts({ taskName: task.name! })[0].forced).toBe(true);
    expect((await rpcCode(client.runTask({ name: task.name! }))).code).toBe(status.NOT_FOUND);
  });
});
