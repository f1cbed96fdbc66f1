import type { Logger } from "../../log.ts";
import { attemptStatus, retryReason } from "./http-status.ts";
import type { HttpSender, OutgoingRequest, SendResult } from "./http-sender.ts";
import type { AttemptRecord, AttemptTimes, QueueRecord, TaskRecord } from "./model.ts";
import type { OidcSigner } from "./oidc-signer.ts";
import { appEngineTargetRequest, httpTargetRequest, type AttemptFacts } from "./outgoing.ts";
import { backoffUs, retriesExhausted } from "./queue-config.ts";
import { nowUs, US_PER_MS, US_PER_SECOND } from "./time.ts";

export interface SchedulerDeps {
  queues(): Iterable<QueueRecord>;
  sender: HttpSender;
  signer: OidcSigner;
  appEngineBaseUrl: string;
  logger: Logger;
  onAttempt(record: AttemptRecord): void;
  /** Removes a task that succeeded or ran out of attempts. */
  finish(task: TaskRecord, queue: QueueRecord, outcome: "succeeded" | "failed", lastHttpStatus: number | undefined): void;
}

// setTimeout cannot wait longer than 2^31-1 ms; waking up hourly and looking again is cheaper than chaining.
const MAX_TIMER_MS = 3600 * 1000;

/** Takes a dispatch token; when none is left, answers how long until the next one (µs). */
function takeToken(queue: QueueRecord, now: number): number {
  const { maxDispatchesPerSecond: rate, maxBurstSize: burst } = queue.settings.rate;
  queue.tokens = Math.min(burst, queue.tokens + ((now - queue.tokensAtUs) * rate) / US_PER_SECOND);
  queue.tokensAtUs = now;
  if (queue.tokens >= 1) {
    queue.tokens -= 1;
    return 0;
  }
  return Math.ceil(((1 - queue.tokens) * US_PER_SECOND) / rate);
}

function seconds(us: number): string {
  return `${Number((us / US_PER_SECOND).toFixed(3))} s`;
}

/**
 * Decides when each task is attempted: at its schedule time, within the
 * queue's rate and concurrency limits, never from a paused queue; and what
 * follows an answer (done, retry after backoff, or give up).
 */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #stopped = false;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  /** Looks for due tasks soon; calls made in the same tick are merged into one look. */
  wake(): void {
    if (this.#stopped || this.#immediate) return;
    this.#immediate = setImmediate(() => this.#pump());
  }

  /** RunTask: dispatch now, whatever the queue state, limits or running attempts. */
  runNow(task: TaskRecord, queue: QueueRecord): void {
    this.#start(task, queue, nowUs());
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  #pump(): void {
    this.#immediate = undefined;
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = nowUs();
    let next = Infinity;
    for (const queue of this.#deps.queues()) {
      if (queue.state !== "RUNNING") continue;
      const waiting = [...queue.tasks.values()].filter((task) => task.inFlight === 0).sort((a, b) => a.scheduleTimeUs - b.scheduleTimeUs);
      for (const task of waiting) {
        if (task.scheduleTimeUs > now) {
          next = Math.min(next, task.scheduleTimeUs);
          break;
        }
        // A finishing attempt wakes the scheduler again, so no timer is needed for this case.
        if (queue.inFlight >= queue.settings.rate.maxConcurrentDispatches) break;
        const wait = takeToken(queue, now);
        if (wait > 0) {
          next = Math.min(next, now + wait);
          break;
        }
        this.#start(task, queue, undefined);
      }
    }
    if (next !== Infinity) {
      // Rounded up: a timer that fires early would only re-arm, but one that fires late is harmless.
      const delayMs = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil((next - now) / US_PER_MS)));
      this.#timer = setTimeout(() => this.#pump(), delayMs);
    }
  }

  #start(task: TaskRecord, queue: QueueRecord, forcedAtUs: number | undefined): void {
    const now = nowUs();
    const facts: AttemptFacts = {
      queueId: queue.name.queueId,
      taskId: task.taskId,
      retryCount: task.dispatchCount,
      executionCount: task.executionCount,
      etaUs: task.scheduleTimeUs,
      previousHttpStatus: task.previousHttpStatus,
      retryReason: task.retryReason,
    };
    task.dispatchCount++;
    task.firstAttemptUs ??= now;
    const attempt: AttemptTimes = { scheduleTimeUs: task.scheduleTimeUs, dispatchTimeUs: now };
    task.lastAttempt = attempt;
    task.inFlight++;
    queue.inFlight++;
    let request: OutgoingRequest | undefined;
    let buildError: string | undefined;
    try {
      request =
        task.target.kind === "http"
          ? httpTargetRequest(task, task.target, facts, this.#deps.signer)
          : appEngineTargetRequest(task, task.target, facts, this.#deps.appEngineBaseUrl);
    } catch (error) {
      buildError = error instanceof Error ? error.message : String(error);
    }
    const record: AttemptRecord = {
      taskName: task.name,
      queueName: queue.name.name,
      attempt: task.dispatchCount,
      forced: forcedAtUs !== undefined,
      method: request?.method ?? task.target.method,
      url: request?.url ?? (task.target.kind === "http" ? task.target.url : task.target.relativeUri),
      headers: { ...request?.headers },
      scheduledAt: new Date(task.scheduleTimeUs / US_PER_MS),
      dispatchedAt: new Date(now / US_PER_MS),
    };
    this.#deps.onAttempt(record);
    const sending: Promise<SendResult> = request
      ? this.#deps.sender.send(request).catch((error: unknown) => ({ kind: "error", message: error instanceof Error ? error.message : String(error) }))
      : Promise.resolve({ kind: "error", message: buildError ?? "request could not be built" });
    void sending.then((result) => this.#complete(task, queue, attempt, record, result, forcedAtUs));
  }

  #complete(
    task: TaskRecord,
    queue: QueueRecord,
    attempt: AttemptTimes,
    record: AttemptRecord,
    result: SendResult,
    forcedAtUs: number | undefined,
  ): void {
    task.inFlight--;
    queue.inFlight--;
    const now = nowUs();
    if (result.kind === "response") {
      record.httpStatus = result.status;
      record.respondedAt = new Date(now / US_PER_MS);
    } else {
      record.error = result.kind === "timeout" ? "DEADLINE_EXCEEDED" : result.message;
    }
    if (this.#stopped) return;
    const label = `task ${queue.name.queueId}/${task.taskId} attempt ${record.attempt}: ${record.method} ${record.url}`;
    if (task.removed) {
      this.#deps.logger.debug(`${label} -> answered after the task was removed`);
      this.wake();
      return;
    }
    const rpcStatus = attemptStatus(result);
    attempt.responseStatus = rpcStatus;
    attempt.responseTimeUs = now;
    if (result.kind === "response") {
      task.responseCount++;
      if (result.status < 500) task.executionCount++;
      task.previousHttpStatus = result.status;
    } else {
      task.previousHttpStatus = undefined;
    }
    const outcome = result.kind === "response" ? `HTTP ${result.status}` : (record.error ?? "error");
    if (result.kind === "response" && result.status >= 200 && result.status < 300) {
      this.#deps.logger.info(`${label} -> ${outcome}, done`);
      this.#deps.finish(task, queue, "succeeded", result.status);
    } else if (retriesExhausted(queue.settings.retry, { dispatchCount: task.dispatchCount, firstAttemptUs: task.firstAttemptUs ?? now, createTimeUs: task.createTimeUs }, now)) {
      this.#deps.logger.warn(`${label} -> ${outcome}, no attempts left: task dropped`);
      this.#deps.finish(task, queue, "failed", task.previousHttpStatus);
    } else {
      let delay = backoffUs(queue.settings.retry, task.dispatchCount - 1);
      // The service backs off harder when the target says so with 429/503 and Retry-After.
      if (result.kind === "response" && (result.status === 429 || result.status === 503) && result.retryAfterMs !== undefined) {
        delay = Math.max(delay, result.retryAfterMs * US_PER_MS);
      }
      task.retryReason = retryReason(rpcStatus);
      // RunTask's retry counts from the call, a scheduled attempt's from its failure (as documented).
      task.scheduleTimeUs = (forcedAtUs ?? now) + delay;
      this.#deps.logger.info(`${label} -> ${outcome}, retry in ${seconds(delay)}`);
    }
    this.wake();
  }
}
