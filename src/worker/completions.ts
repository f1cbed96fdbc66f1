import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { AttemptOutcome, Storage } from "../storage/storage.ts";

const MAX_BATCH = 500;
const WRITE_TRIES = 5;

/**
 * Writes attempt outcomes in batches without adding latency: the first
 * outcome is written at once, and those that finish while that write is in
 * flight go together in the next one. Under load this turns one UPDATE per
 * task into one per batch; when idle it is a plain single write.
 */
export class CompletionWriter {
  readonly #storage: Storage;
  readonly #logger: Logger;
  #pending: Array<{ outcome: AttemptOutcome; resolve: (written: boolean) => void }> = [];
  #flushing = false;

  constructor(storage: Storage, logger: Logger) {
    this.#storage = storage;
    this.#logger = logger;
  }

  /** Resolves to whether the outcome was recorded (false: the attempt had lost the task, or the database stayed unreachable). */
  write(outcome: AttemptOutcome): Promise<boolean> {
    return new Promise((resolve) => {
      this.#pending.push({ outcome, resolve });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, MAX_BATCH);
        const written = await this.#writeWithRetry(batch.map((p) => p.outcome));
        batch.forEach((p, i) => p.resolve(written[i]));
      }
    } finally {
      this.#flushing = false;
    }
  }

  // Outcomes are retried through short database outages; if they never land, each task's lease brings it back.
  async #writeWithRetry(outcomes: AttemptOutcome[]): Promise<boolean[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#storage.taskFinishAttempts(outcomes);
      } catch (error) {
        if (attempt >= WRITE_TRIES) {
          this.#logger.error("Could not record task outcomes; those tasks will run again when their lease expires", {
            tasks: outcomes.map((o) => o.id).join(","),
            error: describeError(error),
          });
          return outcomes.map(() => false);
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
      }
    }
  }
}
