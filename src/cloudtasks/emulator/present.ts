import type { AttemptTimes, QueueRecord, TaskRecord } from "./model.ts";
import { appEngineHost, DEFAULT_DISPATCH_DEADLINE_US } from "./outgoing.ts";
import { settingsToProto, type ProtoQueue } from "./queue-config.ts";
import { usToProto } from "./time.ts";

export type TaskView = "BASIC" | "FULL";

/** Queue as the API returns it. */
export function presentQueue(queue: QueueRecord, appEngineBaseUrl: string): ProtoQueue {
  const proto: ProtoQueue = { name: queue.name.name, ...settingsToProto(queue.settings), state: queue.state };
  if (proto.appEngineRoutingOverride) proto.appEngineRoutingOverride.host = appEngineHost(appEngineBaseUrl, queue.settings.appEngineRoutingOverride);
  if (queue.purgeTimeUs !== undefined) proto.purgeTime = usToProto(queue.purgeTimeUs);
  return proto;
}

function presentAttempt(attempt: AttemptTimes): Record<string, unknown> {
  return {
    scheduleTime: usToProto(attempt.scheduleTimeUs),
    dispatchTime: usToProto(attempt.dispatchTimeUs),
    ...(attempt.responseTimeUs !== undefined ? { responseTime: usToProto(attempt.responseTimeUs) } : {}),
    ...(attempt.responseStatus ? { responseStatus: attempt.responseStatus } : {}),
  };
}

/** Task as the API returns it; BASIC leaves out the body, which may be large or sensitive. */
export function presentTask(task: TaskRecord, view: TaskView, queue: QueueRecord | undefined, appEngineBaseUrl: string): Record<string, unknown> {
  const { target } = task;
  const body = view === "FULL" && target.body ? { body: target.body } : {};
  const message =
    target.kind === "http"
      ? {
          httpRequest: {
            url: target.url,
            httpMethod: target.method,
            headers: { ...target.headers },
            ...body,
            ...(target.oidcToken ? { oidcToken: { ...target.oidcToken } } : {}),
            ...(target.oauthToken ? { oauthToken: { ...target.oauthToken } } : {}),
          },
        }
      : (() => {
          // The queue's override wins over the task's own routing, as documented.
          const routing = queue?.settings.appEngineRoutingOverride ?? target.routing;
          return {
            appEngineHttpRequest: {
              httpMethod: target.method,
              appEngineRouting: { ...routing, host: appEngineHost(appEngineBaseUrl, routing) },
              relativeUri: target.relativeUri,
              headers: { ...target.headers },
              ...body,
            },
          };
        })();
  return {
    name: task.name,
    ...message,
    scheduleTime: usToProto(task.scheduleTimeUs),
    createTime: usToProto(task.createTimeUs),
    dispatchDeadline: usToProto(task.dispatchDeadlineUs ?? DEFAULT_DISPATCH_DEADLINE_US),
    dispatchCount: task.dispatchCount,
    responseCount: task.responseCount,
    // Only the dispatch time of the first attempt is kept, as in the service.
    ...(task.firstAttemptUs !== undefined ? { firstAttempt: { dispatchTime: usToProto(task.firstAttemptUs) } } : {}),
    ...(task.lastAttempt ? { lastAttempt: presentAttempt(task.lastAttempt) } : {}),
    view,
  };
}
