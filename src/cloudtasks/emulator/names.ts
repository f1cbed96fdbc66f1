import { randomBytes } from "node:crypto";
import { invalidArgument } from "./rpc-error.ts";

const PROJECT_ID = /^[A-Za-z0-9\-:.]+$/;
const LOCATION_ID = /^[A-Za-z0-9-]+$/;
const QUEUE_ID = /^[A-Za-z0-9-]{1,100}$/;
const TASK_ID = /^[A-Za-z0-9_-]{1,500}$/;

export interface LocationName {
  project: string;
  location: string;
  /** projects/P/locations/L */
  name: string;
}

export interface QueueName extends LocationName {
  queueId: string;
  /** projects/P/locations/L/queues/Q */
  name: string;
}

export interface TaskName {
  queue: QueueName;
  taskId: string;
  name: string;
}

function checkLocation(project: string, location: string, name: string): void {
  if (!PROJECT_ID.test(project)) {
    throw invalidArgument(`Project ID "${project}" in "${name}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), colons (:), or periods (.).`);
  }
  if (!LOCATION_ID.test(location)) throw invalidArgument(`Location ID "${location}" in "${name}" is not valid.`);
}

function checkQueueId(queueId: string): void {
  if (!QUEUE_ID.test(queueId)) {
    throw invalidArgument(
      `Queue ID "${queueId}" can contain only letters ([A-Za-z]), numbers ([0-9]), or hyphens (-). Queue ID must be between 1 and 100 characters.`,
    );
  }
}

export function checkTaskId(taskId: string): void {
  // Wording (and its grammar) as the real service answers, so code matching on it behaves the same.
  if (!TASK_ID.test(taskId)) {
    throw invalidArgument(
      `Task ID "${taskId}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`,
    );
  }
}

export function parseLocationName(name: string | undefined): LocationName {
  const match = /^projects\/([^/]+)\/locations\/([^/]+)$/.exec(name ?? "");
  if (!match) throw invalidArgument(`"${name ?? ""}" is not a location name of the form projects/PROJECT_ID/locations/LOCATION_ID.`);
  checkLocation(match[1], match[2], name!);
  return { project: match[1], location: match[2], name: name! };
}

export function parseQueueName(name: string | undefined): QueueName {
  const match = /^projects\/([^/]+)\/locations\/([^/]+)\/queues\/([^/]*)$/.exec(name ?? "");
  if (!match) {
    throw invalidArgument(`"${name ?? ""}" is not a queue name of the form projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID.`);
  }
  checkLocation(match[1], match[2], name!);
  checkQueueId(match[3]);
  return { project: match[1], location: match[2], queueId: match[3], name: name! };
}

export function parseTaskName(name: string | undefined): TaskName {
  // The id is taken greedily so that "tasks/a/b" reports a bad task id rather than a bad name.
  const match = /^(projects\/[^/]+\/locations\/[^/]+\/queues\/[^/]*)\/tasks\/(.*)$/s.exec(name ?? "");
  if (!match) {
    throw invalidArgument(
      `"${name ?? ""}" is not a task name of the form projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID/tasks/TASK_ID.`,
    );
  }
  const queue = parseQueueName(match[1]);
  checkTaskId(match[2]);
  return { queue, taskId: match[2], name: name! };
}

/** Cloud Tasks names unnamed tasks with a long decimal number; random, so ids spread evenly as the service wants. */
export function generateTaskId(): string {
  return BigInt(`0x${randomBytes(8).toString("hex")}`).toString(10);
}
