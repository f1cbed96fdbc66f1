import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Storage } from "../storage/storage.ts";

/**
 * Keeps the leases of this process's running tasks alive with one UPDATE per
 * period, however many tasks run. A task whose process dies stops being
 * renewed; once its lease runs out a worker puts it back in the queue.
 */
export class LeaseKeeper {
  readonly leaseMs: number;
  readonly #storage: Storage;
  readonly #logger: Logger;
  readonly #running = new Set<string>();
  #timer: NodeJS.Timeout | null = null;

  constructor(storage: Storage, leaseMs: number, logger: Logger) {
    this.#storage = storage;
    this.leaseMs = leaseMs;
    this.#logger = logger;
  }

  lockedUntil(now = new Date()): Date {
    return new Date(now.getTime() + this.leaseMs);
  }

  track(id: string): void {
    this.#running.add(id);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.renew(), Math.max(50, this.leaseMs / 3));
      this.#timer.unref();
    }
  }

  untrack(id: string): void {
    this.#running.delete(id);
    if (this.#running.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  async renew(): Promise<void> {
    if (this.#running.size === 0) return;
    try {
      await this.#storage.taskRenewLeases([...this.#running], this.lockedUntil());
    } catch (error) {
      this.#logger.warn("Could not renew task leases; will retry", { error: describeError(error), tasks: this.#running.size });
    }
  }
}
