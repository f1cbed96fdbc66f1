import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { AttemptOutcome, LockedClaim } from "../storage/storage.ts";

/**
 * One locked claim while its tasks run (`claimMode: "lock"`). It gathers the
 * outcomes of its tasks and, once the last one is in or given back, writes
 * them all and commits. Until then the rows stay READY in the table, locked
 * by the claim's transaction, so no other worker takes them; if this process
 * dies, the transaction ends and they are READY for the next one.
 */
export class LockedBatch {
  /** Resolves once the batch's transaction has ended: true if the outcomes were committed. */
  readonly committed: Promise<boolean>;
  readonly #claim: LockedClaim;
  readonly #logger: Logger;
  readonly #unsettled: Set<string>;
  readonly #outcomes: AttemptOutcome[] = [];
  #resolve!: (committed: boolean) => void;
  #closing = false;

  constructor(claim: LockedClaim, logger: Logger) {
    this.#claim = claim;
    this.#logger = logger;
    this.#unsettled = new Set(claim.tasks.map((task) => task.id));
    this.committed = new Promise((resolve) => (this.#resolve = resolve));
  }

  get tasks() {
    return this.#claim.tasks;
  }

  /** One of its tasks' outcome; resolves to whether it was written (false: the batch was already closed, or its commit failed). */
  record(outcome: AttemptOutcome): Promise<boolean> {
    if (!this.#unsettled.delete(outcome.id)) return Promise.resolve(false);
    this.#outcomes.push(outcome);
    if (this.#unsettled.size === 0) void this.close();
    return this.committed;
  }

  /** A task of the batch that will not run (a stopping worker's prefetched one): left out of the commit, it stays READY. */
  giveBack(id: string): void {
    if (this.#unsettled.delete(id) && this.#unsettled.size === 0) void this.close();
  }

  /** Commits the outcomes gathered so far; tasks still unsettled stay READY. Resolves like `committed`. */
  async close(): Promise<boolean> {
    if (this.#closing) return this.committed;
    this.#closing = true;
    try {
      await this.#claim.commit(this.#outcomes);
      this.#resolve(true);
    } catch (error) {
      this.#logger.error("Could not record the outcomes of a locked claim; its tasks are READY again and will run again", {
        tasks: this.#claim.tasks.length,
        error: errorMessage(error),
      });
      this.#resolve(false);
    }
    return this.committed;
  }
}
