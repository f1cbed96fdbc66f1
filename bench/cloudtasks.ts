/**
 * The Cloud Tasks path, against the project's own emulator: how fast enqueue
 * is when it also creates a Cloud Task (INSERT + CreateTask over gRPC), and
 * how many execute requests per second the handler serves with OIDC
 * verification on (and off, for comparison). Runs in the benchmark process:
 * the emulator and the handler are in-process servers on 127.0.0.1.
 */
import { close, configure, getBackend, getRuntime, migrate, task, type Logger } from "../src/index.ts";
import { startEmulator, type CloudTasksDatabaseBackend } from "../src/cloudtasks/index.ts";
import { startServer } from "../src/http/index.ts";
import type { DatabaseManager } from "./postgres.ts";
import { now } from "./util.ts";

const PROJECT = "bench-project";
const LOCATION = "local";
const INVOKER = "bench-invoker@bench-project.iam.gserviceaccount.com";
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface CloudTasksFigures {
  status: "measured";
  /** Tasks enqueued one at a time through the cloudtasks backend (row + Cloud Task). */
  enqueuePerSecond: number;
  /** POST /tasks/execute/<id>/ served per second, `clients` concurrent callers, OIDC verified. */
  executeWithOidcPerSecond: number;
  /** The same without OIDC (allowUnauthenticatedDelivery, open router): the cost of verification. */
  executeWithoutOidcPerSecond: number;
  tasks: number;
  clients: number;
  note: string;
}

const cloudNoop = task(function benchCloudNoop(n: number) {
  return n;
}, { name: "bench.cloudNoop" });

async function measure(databases: DatabaseManager, tasks: number, warmup: number, clients: number, oidc: boolean) {
  const database = await databases.create(oidc ? "ctoidc" : "ctopen");
  const emulator = await startEmulator();
  const server = await startServer({ port: 0, host: "127.0.0.1", handleSignals: false, logger: quiet, allowUnauthenticated: !oidc });
  try {
    configure({
      database: database.url,
      logger: quiet,
      backends: {
        default: {
          backend: "cloudtasks",
          options: {
            project: PROJECT,
            location: LOCATION,
            handlerUrl: `${server.url}/tasks/execute/{task_id}/`,
            emulatorHost: emulator.grpcAddress,
            ...(oidc ? { serviceAccountEmail: INVOKER, oidcCertsUrl: emulator.certsUrl } : { allowUnauthenticatedDelivery: true }),
          },
        },
      },
    });
    await migrate();
    const backend = (await getBackend()) as CloudTasksDatabaseBackend;
    const client = backend.client();
    // A paused queue takes the Cloud Tasks but delivers none: the execute phase below is driven by us, at full speed.
    const queue = client.queuePath(PROJECT, LOCATION, "default");
    await client.createQueue({ parent: client.locationPath(PROJECT, LOCATION), queue: { name: queue } });
    await client.pauseQueue({ name: queue });

    const authorization = oidc ? `Bearer ${emulator.signIdToken({ serviceAccountEmail: INVOKER, audience: new URL(server.url).origin })}` : undefined;
    const execute = async (ids: string[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < ids.length) {
            const id = ids[next++];
            const response = await fetch(`${server.url}/tasks/execute/${id}/?fail_on_error=true&allow_retry=true`, {
              method: "POST",
              headers: authorization ? { authorization } : {},
            });
            if (response.status !== 200) throw new Error(`execute answered ${response.status}: ${await response.text()}`);
            await response.arrayBuffer();
          }
        }),
      );
    };

    // Untimed warm-up: without it the first measurement (with OIDC) also paid for the process's cold start
    // (JIT, lazy imports, the first certificate fetch), counted as the cost of verification.
    const warmupIds: string[] = [];
    for (let i = 0; i < warmup; i++) warmupIds.push((await cloudNoop.enqueue(i)).id);
    await execute(warmupIds);

    const ids: string[] = [];
    const enqueueStart = now();
    for (let i = 0; i < tasks; i++) ids.push((await cloudNoop.enqueue(i)).id);
    const enqueueSeconds = (now() - enqueueStart) / 1000;

    const executeStart = now();
    await execute(ids);
    const executeSeconds = (now() - executeStart) / 1000;
    const knex = (await getRuntime()).storage().knex;
    const [{ n }] = await knex("database_task").where({ status: "SUCCESSFUL" }).count({ n: "*" });
    if (Number(n) !== warmup + tasks) throw new Error(`expected ${warmup + tasks} SUCCESSFUL tasks after the execute phase, found ${n}`);
    return { enqueuePerSecond: tasks / enqueueSeconds, executePerSecond: tasks / executeSeconds };
  } finally {
    await close();
    await server.stop(1000);
    await emulator.stop();
    await databases.drop(database.name);
  }
}

export async function measureCloudTasksPath(databases: DatabaseManager, { quick }: { quick: boolean }): Promise<CloudTasksFigures> {
  const tasks = quick ? 200 : 1000;
  const warmup = quick ? 100 : 200;
  const clients = 8;
  const withOidc = await measure(databases, tasks, warmup, clients, true);
  const withoutOidc = await measure(databases, tasks, warmup, clients, false);
  return {
    status: "measured",
    enqueuePerSecond: withOidc.enqueuePerSecond,
    executeWithOidcPerSecond: withOidc.executePerSecond,
    executeWithoutOidcPerSecond: withoutOidc.executePerSecond,
    tasks,
    clients,
    note:
      `${tasks} tasks enqueued one at a time through the cloudtasks backend (INSERT, CreateTask on the emulator over gRPC, dispatched_at), ` +
      `then POST /tasks/execute/<id>/ by ${clients} concurrent clients against the in-process handler (after ${warmup} untimed ones), every task checked SUCCESSFUL`,
  };
}
