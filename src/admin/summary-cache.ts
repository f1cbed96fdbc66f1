import type { SqlStorage } from "../storage/sql-storage.ts";
import { taskSummary, type SummaryGroup } from "./queries.ts";

export interface Summary {
  groups: SummaryGroup[];
  /** When the counts were taken; older than the page when they came from the cache. */
  asOf: Date;
}

/** Counting cheaper than this is redone on every page: small tables always show exact counts. */
const CACHE_FROM_MS = 50;
/** A count that took t ms is reused for 10·t ms, so counting never takes more than a tenth of one connection. */
const CACHE_FACTOR = 10;
const CACHE_MAX_MS = 60_000;

interface Entry {
  summary: Summary;
  expires: number;
}

/**
 * The counts at the top of the list scan the whole table (about 220 ms per
 * million rows on PostgreSQL), while a page of rows costs a few
 * milliseconds at any depth. On large tables the counts are therefore reused
 * for a while, in proportion to what they cost, and concurrent page loads
 * share one count. Actions clear them, so their effect shows at once.
 */
export class SummaryCache {
  readonly #entries = new WeakMap<SqlStorage, Entry>();
  readonly #pending = new WeakMap<SqlStorage, Promise<Summary>>();
  readonly #count: (storage: SqlStorage) => Promise<SummaryGroup[]>;

  constructor(count: (storage: SqlStorage) => Promise<SummaryGroup[]> = taskSummary) {
    this.#count = count;
  }

  async get(storage: SqlStorage): Promise<Summary> {
    const entry = this.#entries.get(storage);
    if (entry && entry.expires > Date.now()) return entry.summary;
    let pending = this.#pending.get(storage);
    if (!pending) {
      pending = this.#load(storage).finally(() => this.#pending.delete(storage));
      this.#pending.set(storage, pending);
    }
    return pending;
  }

  invalidate(storage: SqlStorage): void {
    this.#entries.delete(storage);
  }

  async #load(storage: SqlStorage): Promise<Summary> {
    const asOf = new Date();
    const started = performance.now();
    const groups = await this.#count(storage);
    const took = performance.now() - started;
    const summary = { groups, asOf };
    if (took >= CACHE_FROM_MS) this.#entries.set(storage, { summary, expires: Date.now() + Math.min(CACHE_MAX_MS, took * CACHE_FACTOR) });
    return summary;
  }
}
