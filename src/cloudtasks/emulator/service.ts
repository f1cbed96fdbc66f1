import { status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Logger } from "../../log.ts";
import type { EmulatorCore } from "./core.ts";
import type { QueueState } from "./model.ts";
import { presentQueue, presentTask, type TaskView } from "./present.ts";
import type { ProtoQueue } from "./queue-config.ts";
import { RpcError } from "./rpc-error.ts";
import type { ProtoTask } from "./task-spec.ts";

type Request = Record<string, unknown>;
type Handler = (request: Request) => unknown;

function view(value: unknown): TaskView {
  return value === "FULL" ? "FULL" : "BASIC";
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Maps thrown errors to gRPC statuses; anything unexpected is INTERNAL and logged, never a crash. */
function unary(name: string, handler: Handler, logger: Logger) {
  return (call: ServerUnaryCall<Request, unknown>, callback: sendUnaryData<unknown>) => {
    try {
      callback(null, handler(call.request));
    } catch (error) {
      if (error instanceof RpcError) {
        logger.debug(`${name} -> ${status[error.code]}: ${error.message}`);
        callback({ code: error.code, details: error.message });
        return;
      }
      logger.error(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      callback({ code: status.INTERNAL, details: error instanceof Error ? error.message : String(error) });
    }
  };
}

/** The CloudTasks service: decodes requests, calls the core, encodes its answers. */
export function cloudTasksImplementation(core: EmulatorCore, logger: Logger): UntypedServiceImplementation {
  const base = core.appEngineBaseUrl;
  const queue = (record: Parameters<typeof presentQueue>[0]) => presentQueue(record, base);
  const setState = (state: QueueState) => (request: Request) => queue(core.setQueueState(str(request.name), state));
  const requireQueueResource = (request: Request) => core.getQueue(str(request.resource));

  const handlers: Record<string, Handler> = {
    ListQueues: (request) => {
      const page = core.listQueues(str(request.parent), str(request.filter), request.pageSize as number | undefined, str(request.pageToken));
      return { queues: page.items.map(queue), nextPageToken: page.nextPageToken };
    },
    GetQueue: (request) => queue(core.getQueue(str(request.name))),
    CreateQueue: (request) => queue(core.createQueue(str(request.parent), request.queue as ProtoQueue | undefined)),
    UpdateQueue: (request) =>
      queue(core.updateQueue(request.queue as ProtoQueue | undefined, (request.updateMask as { paths?: string[] } | undefined)?.paths)),
    DeleteQueue: (request) => {
      core.deleteQueue(str(request.name));
      return {};
    },
    PurgeQueue: (request) => queue(core.purgeQueue(str(request.name))),
    PauseQueue: setState("PAUSED"),
    ResumeQueue: setState("RUNNING"),
    // IAM is not enforced locally; the policy is only stored so that tools reading it back see what they set.
    GetIamPolicy: (request) => requireQueueResource(request).iamPolicy ?? {},
    SetIamPolicy: (request) => {
      const record = requireQueueResource(request);
      record.iamPolicy = request.policy ?? {};
      return record.iamPolicy;
    },
    // Documented to answer an empty set, not NOT_FOUND, for a queue that does not exist.
    TestIamPermissions: (request) => {
      try {
        requireQueueResource(request);
      } catch {
        return { permissions: [] };
      }
      return { permissions: request.permissions ?? [] };
    },
    ListTasks: (request) => {
      const page = core.listTasks(str(request.parent), request.pageSize as number | undefined, str(request.pageToken));
      const owner = core.getQueue(str(request.parent));
      return { tasks: page.items.map((task) => presentTask(task, view(request.responseView), owner, base)), nextPageToken: page.nextPageToken };
    },
    GetTask: (request) => {
      const { task, queue: owner } = core.getTask(str(request.name));
      return presentTask(task, view(request.responseView), owner, base);
    },
    CreateTask: (request) => {
      const task = core.createTask(str(request.parent), request.task as ProtoTask | undefined);
      return presentTask(task, view(request.responseView), core.getQueue(task.queueName), base);
    },
    DeleteTask: (request) => {
      core.deleteTask(str(request.name));
      return {};
    },
    RunTask: (request) => {
      const { task, queue: owner } = core.runTask(str(request.name));
      return presentTask(task, view(request.responseView), owner, base);
    },
  };
  return Object.fromEntries(Object.entries(handlers).map(([name, handler]) => [name, unary(name, handler, logger)]));
}
