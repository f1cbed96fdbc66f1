/** Keeps the most recent entries only, so a long-running emulator does not grow without bound. */
export class BoundedLog<T> {
  readonly #limit: number;
  #items: T[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  // Trimmed in batches (up to twice the limit is held) so that a push stays cheap.
  push(item: T): void {
    this.#items.push(item);
    if (this.#items.length > this.#limit * 2) this.#items = this.#items.slice(-this.#limit);
  }

  filter(predicate: (item: T) => boolean): T[] {
    return this.#items.filter(predicate).slice(-this.#limit);
  }
}
