import { EventEmitter } from "node:events";
import type { Logger } from "../../log.ts";
import { BoundedLog } from "./bounded-log.ts";
import { ExpiringNames } from "./expiring-names.ts";
import type { HttpSender } from "./http-sender.ts";
import type { AttemptRecord, QueueRecord, QueueState, TaskOutcome, TaskOutcomeKind, TaskRecord } from "./model.ts";
import { generateTaskId, parseLocationName, parseQueueName, parseTaskName, type QueueName } from "./names.ts";
import type { OidcSigner } from "./oidc-signer.ts";
import { applyQueueUpdate, defaultQueueSettings, settingsFromProto, type ProtoQueue, type QueueSettings } from "./queue-config.ts";
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "./rpc-error.ts";
import { Scheduler } from "./scheduler.ts";
import { validateTaskSpec, type ProtoTask, type TaskLimits } from "./task-spec.ts";
import { nowUs, US_PER_MS, US_PER_SECOND } from "./time.ts";

export interface CoreOptions extends TaskLimits {
  autoCreateQueues: boolean;
  taskDedupWindowUs: number;
  queueReuseWindowUs: number;
  appEngineBaseUrl: string;
  historyLimit: number;
  logger: Logger;
  sender: HttpSender;
  signer: OidcSigner;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

const MAX_QUEUE_PAGE = 9800;
const MAX_TASK_PAGE = 1000;

function pageOf<T>(all: T[], pageSize: number | undefined, pageToken: string | undefined, max: number): Page<T> {
  let offset = 0;
  if (pageToken) {
    const decoded = Buffer.from(pageToken, "base64url").toString("utf8");
    if (!/^\d+$/.test(decoded)) throw invalidArgument("Invalid page_token.");
    offset = Number(decoded);
  }
  if (pageSize !== undefined && pageSize < 0) throw invalidArgument("page_size must not be negative.");
  const size = Math.min(pageSize || max, max);
  const items = all.slice(offset, offset + size);
  const nextOffset = offset + items.length;
  return { items, nextPageToken: nextOffset < all.length ? Buffer.from(String(nextOffset)).toString("base64url") : "" };
}

/** ListQueues filters: only the documented example form, on `state`, is understood. */
function queueFilter(filter: string | undefined): (queue: QueueRecord) => boolean {
  if (!filter?.trim()) return () => true;
  const match = /^\s*state\s*(:|=|!=)\s*([A-Z_]+)\s*$/.exec(filter);
  if (!match) throw invalidArgument(`Unsupported filter "${filter}": the emulator understands only "state: STATE", "state = STATE" and "state != STATE".`);
  const [, operator, state] = match;
  return operator === "!=" ? (queue) => queue.state !== state : (queue) => queue.state === state;
}

/**
 * The emulator's state and the operations the API offers on it. Everything
 * runs on the event loop, so no operation interleaves with another.
 */
export class EmulatorCore {
  readonly events = new EventEmitter();
  readonly #options: CoreOptions;
  readonly #queues = new Map<string, QueueRecord>();
  readonly #usedTaskNames: ExpiringNames;
  readonly #deletedQueueNames: ExpiringNames;
  readonly #outcomes = new Map<string, TaskOutcome>();
  readonly #attempts: BoundedLog<AttemptRecord>;
  readonly #scheduler: Scheduler;

  constructor(options: CoreOptions) {
    this.#options = options;
    this.#usedTaskNames = new ExpiringNames(options.taskDedupWindowUs);
    this.#deletedQueueNames = new ExpiringNames(options.queueReuseWindowUs);
    this.#attempts = new BoundedLog(options.historyLimit);
    this.events.setMaxListeners(0);
    this.#scheduler = new Scheduler({
      queues: () => this.#queues.values(),
      sender: options.sender,
      signer: options.signer,
      appEngineBaseUrl: options.appEngineBaseUrl,
      logger: options.logger,
      onAttempt: (record) => {
        this.#attempts.push(record);
        this.events.emit("attempt", record);
      },
      finish: (task, queue, outcome, lastHttpStatus) => this.#removeTask(task, queue, outcome, lastHttpStatus),
    });
  }

  get appEngineBaseUrl(): string {
    return this.#options.appEngineBaseUrl;
  }

  stop(): void {
    this.#scheduler.stop();
  }

  // Queues

  createQueue(parent: string | undefined, proto: ProtoQueue | null | undefined): QueueRecord {
    const location = parseLocationName(parent);
    if (!proto?.name) throw invalidArgument("queue.name is required.");
    const name = parseQueueName(proto.name);
    if (name.project !== location.project || name.location !== location.location) {
      throw invalidArgument(`Queue name "${proto.name}" is not in the location "${parent}".`);
    }
    if (this.#queues.has(name.name)) throw alreadyExists();
    return this.#addQueue(name, settingsFromProto(proto));
  }

  getQueue(name: string | undefined): QueueRecord {
    const queueName = parseQueueName(name);
    const queue = this.#queues.get(queueName.name);
    if (!queue) throw notFound("Queue does not exist.");
    return queue;
  }

  /** Creates the queue when it does not exist, as the API documents. */
  updateQueue(proto: ProtoQueue | null | undefined, maskPaths: readonly string[] | undefined): QueueRecord {
    if (!proto?.name) throw invalidArgument("queue.name is required.");
    const name = parseQueueName(proto.name);
    const queue = this.#queues.get(name.name);
    if (!queue) return this.#addQueue(name, applyQueueUpdate(defaultQueueSettings(), proto, maskPaths));
    queue.settings = applyQueueUpdate(queue.settings, proto, maskPaths);
    queue.tokens = Math.min(queue.tokens, queue.settings.rate.maxBurstSize);
    this.#scheduler.wake();
    return queue;
  }

  listQueues(parent: string | undefined, filter: string | undefined, pageSize: number | undefined, pageToken: string | undefined): Page<QueueRecord> {
    const location = parseLocationName(parent);
    const accept = queueFilter(filter);
    const prefix = `${location.name}/queues/`;
    const all = [...this.#queues.values()].filter((queue) => queue.name.name.startsWith(prefix) && accept(queue)).sort((a, b) => (a.name.name < b.name.name ? -1 : 1));
    return pageOf(all, pageSize, pageToken, MAX_QUEUE_PAGE);
  }

  deleteQueue(name: string | undefined): void {
    const queue = this.getQueue(name);
    for (const task of [...queue.tasks.values()]) this.#removeTask(task, queue, "queue-deleted", task.previousHttpStatus);
    queue.removed = true;
    this.#queues.delete(queue.name.name);
    this.#deletedQueueNames.add(queue.name.name, nowUs());
  }

  purgeQueue(name: string | undefined): QueueRecord {
    const queue = this.getQueue(name);
    for (const task of [...queue.tasks.values()]) this.#removeTask(task, queue, "purged", task.previousHttpStatus);
    queue.purgeTimeUs = nowUs();
    return queue;
  }

  setQueueState(name: string | undefined, state: QueueState): QueueRecord {
    const queue = this.getQueue(name);
    queue.state = state;
    if (state === "RUNNING") this.#scheduler.wake();
    return queue;
  }

  // Tasks

  createTask(parent: string | undefined, proto: ProtoTask | null | undefined): TaskRecord {
    const queueName = parseQueueName(parent);
    if (!proto) throw invalidArgument("task is required.");
    const now = nowUs();
    let taskId: string;
    if (proto.name) {
      const taskName = parseTaskName(proto.name);
      if (taskName.queue.name !== queueName.name) {
        throw invalidArgument(`The queue in task name "${proto.name}" differs from the parent "${queueName.name}".`);
      }
      taskId = taskName.taskId;
    } else {
      taskId = generateTaskId();
    }
    let name = `${queueName.name}/tasks/${taskId}`;
    const spec = validateTaskSpec(proto, name, now, this.#options);
    const queue = this.#queueForNewTask(queueName);
    if (proto.name) {
      if (queue.tasks.has(name) || this.#usedTaskNames.has(name, now)) throw alreadyExists();
    } else {
      while (queue.tasks.has(name) || this.#usedTaskNames.has(name, now)) {
        taskId = generateTaskId();
        name = `${queueName.name}/tasks/${taskId}`;
      }
    }
    const task: TaskRecord = {
      name,
      taskId,
      queueName: queue.name.name,
      target: spec.target,
      // An unset or past schedule_time means now.
      scheduleTimeUs: spec.scheduleTimeUs !== undefined && spec.scheduleTimeUs > now ? spec.scheduleTimeUs : now,
      createTimeUs: Math.floor(now / US_PER_SECOND) * US_PER_SECOND,
      dispatchDeadlineUs: spec.dispatchDeadlineUs,
      dispatchCount: 0,
      responseCount: 0,
      executionCount: 0,
      inFlight: 0,
      removed: false,
    };
    queue.tasks.set(name, task);
    this.#scheduler.wake();
    return task;
  }

  getTask(name: string | undefined): { task: TaskRecord; queue: QueueRecord } {
    const taskName = parseTaskName(name);
    const queue = this.#queues.get(taskName.queue.name);
    const task = queue?.tasks.get(taskName.name);
    if (!queue || !task) {
      if (this.#usedTaskNames.has(taskName.name, nowUs())) {
        throw notFound("The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted.");
      }
      throw notFound();
    }
    return { task, queue };
  }

  listTasks(parent: string | undefined, pageSize: number | undefined, pageToken: string | undefined): Page<TaskRecord> {
    const queue = this.getQueue(parent);
    const all = [...queue.tasks.values()].sort((a, b) => a.scheduleTimeUs - b.scheduleTimeUs || (a.name < b.name ? -1 : 1));
    return pageOf(all, pageSize, pageToken, MAX_TASK_PAGE);
  }

  deleteTask(name: string | undefined): void {
    const { task, queue } = this.getTask(name);
    this.#removeTask(task, queue, "deleted", task.previousHttpStatus);
  }

  runTask(name: string | undefined): { task: TaskRecord; queue: QueueRecord } {
    const found = this.getTask(name);
    this.#scheduler.runNow(found.task, found.queue);
    return found;
  }

  // Inspection

  attempts(filter: { taskName?: string; queueName?: string } = {}): AttemptRecord[] {
    return this.#attempts.filter(
      (record) => (!filter.taskName || record.taskName === filter.taskName) && (!filter.queueName || record.queueName === filter.queueName),
    );
  }

  outcome(taskName: string): TaskOutcome | undefined {
    return this.#outcomes.get(taskName);
  }

  #addQueue(name: QueueName, settings: QueueSettings): QueueRecord {
    if (this.#deletedQueueNames.has(name.name, nowUs())) {
      throw failedPrecondition("The queue cannot be created because a queue with this name existed too recently.");
    }
    const queue: QueueRecord = {
      name,
      settings,
      state: "RUNNING",
      tasks: new Map(),
      inFlight: 0,
      tokens: settings.rate.maxBurstSize,
      tokensAtUs: nowUs(),
      removed: false,
    };
    this.#queues.set(name.name, queue);
    this.#options.logger.info(`queue ${name.name} created`);
    return queue;
  }

  #queueForNewTask(name: QueueName): QueueRecord {
    const queue = this.#queues.get(name.name);
    if (queue) return queue;
    if (!this.#options.autoCreateQueues) {
      throw notFound("Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize.");
    }
    if (this.#deletedQueueNames.has(name.name, nowUs())) throw notFound("Queue does not exist.");
    return this.#addQueue(name, defaultQueueSettings());
  }

  #removeTask(task: TaskRecord, queue: QueueRecord, outcome: TaskOutcomeKind, lastHttpStatus: number | undefined): void {
    if (task.removed) return;
    const now = nowUs();
    task.removed = true;
    queue.tasks.delete(task.name);
    this.#usedTaskNames.add(task.name, now);
    const record: TaskOutcome = {
      taskName: task.name,
      queueName: queue.name.name,
      outcome,
      finishedAt: new Date(now / US_PER_MS),
      dispatchCount: task.dispatchCount,
      responseCount: task.responseCount,
      ...(lastHttpStatus !== undefined ? { lastHttpStatus } : {}),
    };
    this.#outcomes.delete(task.name);
    this.#outcomes.set(task.name, record);
    if (this.#outcomes.size > this.#options.historyLimit) this.#outcomes.delete(this.#outcomes.keys().next().value!);
    this.events.emit("finished", record);
  }
}
