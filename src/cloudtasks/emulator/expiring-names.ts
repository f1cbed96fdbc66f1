/**
 * Names that stay reserved for a while after use: finished or deleted task
 * names (deduplication) and deleted queue names (reuse delay).
 */
export class ExpiringNames {
  readonly #windowUs: number;
  // A Map iterates in insertion order and every entry lives equally long, so
  // expired entries are always at the front and a sweep stops at the first live one.
  readonly #expiry = new Map<string, number>();

  constructor(windowUs: number) {
    this.#windowUs = windowUs;
  }

  add(name: string, now: number): void {
    if (this.#windowUs <= 0) return;
    this.#expiry.delete(name);
    this.#expiry.set(name, now + this.#windowUs);
  }

  has(name: string, now: number): boolean {
    this.#sweep(now);
    return this.#expiry.has(name);
  }

  #sweep(now: number): void {
    for (const [name, expiresAt] of this.#expiry) {
      if (expiresAt > now) break;
      this.#expiry.delete(name);
    }
  }
}
