import { isIPv6 } from "node:net";
import type { Request } from "express";
import type { Gate } from "./auth.ts";
import { HttpError } from "./respond.ts";

/**
 * Failed credentials, counted per client and per process, in memory.
 *
 * Why these numbers: a person who mistypes a password, or a script with a
 * stale token, fails a few times, never 10 times a minute; someone guessing
 * gets 10 tries a minute (14,400 a day per address), hopeless against a
 * token or password of any strength, and the log gets one line per try
 * instead of thousands. Once a client is over the limit its requests are
 * answered 429 before any credential is looked at, so their timing says
 * nothing either. 10,000 tracked clients keep the memory to about a megabyte
 * whatever the number of addresses an attacker uses.
 */
export const MAX_FAILURES = 10;
export const FAILURE_WINDOW_MS = 60_000;
export const MAX_TRACKED_CLIENTS = 10_000;

export const THROTTLED_MESSAGE = "Too many failed attempts; try again later";

/** The clock every throttle reads; tests move it instead of waiting a minute. */
export const throttleClock = { now: (): number => Date.now() };

interface Entry {
  /** When the window began: the client's first failure in it. */
  since: number;
  failures: number;
}

/**
 * A fixed window per client, opened by its first failure: after `maxFailures`
 * failures in it, the client is refused until the window ends. A success
 * changes nothing (neither its own count nor anyone else's).
 */
export class FailureThrottle {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly maxClients: number;
  // Map order is the order of last failure: the first entries are the ones to drop when it is full.
  readonly #clients = new Map<string, Entry>();

  constructor({ maxFailures = MAX_FAILURES, windowMs = FAILURE_WINDOW_MS, maxClients = MAX_TRACKED_CLIENTS } = {}) {
    this.maxFailures = maxFailures;
    this.windowMs = windowMs;
    this.maxClients = maxClients;
  }

  /** Whole seconds until this client may try again; 0 when it may now. */
  retryAfterSeconds(client: string): number {
    const now = throttleClock.now();
    const entry = this.#current(client, now);
    if (!entry || entry.failures < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((entry.since + this.windowMs - now) / 1000));
  }

  /** Counts one failure; true when it is the one that puts the client over the limit (to be logged once). */
  recordFailure(client: string): boolean {
    const now = throttleClock.now();
    const entry = this.#current(client, now) ?? { since: now, failures: 0 };
    this.#clients.delete(client);
    this.#clients.set(client, entry);
    entry.failures++;
    if (this.#clients.size > this.maxClients) this.#trim(now);
    return entry.failures === this.maxFailures;
  }

  /** Clients tracked now (for tests of the bound). */
  get size(): number {
    return this.#clients.size;
  }

  #current(client: string, now: number): Entry | undefined {
    const entry = this.#clients.get(client);
    if (entry && now - entry.since >= this.windowMs) {
      this.#clients.delete(client);
      return undefined;
    }
    return entry;
  }

  /** Drops expired entries, then the longest-quiet ones, down to 90% of the cap (so trimming is rare). */
  #trim(now: number): void {
    const target = Math.floor(this.maxClients * 0.9);
    for (const [client, entry] of this.#clients) {
      if (now - entry.since >= this.windowMs) this.#clients.delete(client);
    }
    for (const client of this.#clients.keys()) {
      if (this.#clients.size <= target) break;
      this.#clients.delete(client);
    }
  }
}

/**
 * Who is failing: `req.ip`, which is the socket's address unless the app sets
 * `trust proxy` (then the address the trusted proxies saw). IPv4-mapped
 * addresses count as IPv4; IPv6 addresses count by their /64, which one
 * subscriber usually holds whole.
 */
export function clientKey(req: Pick<Request, "socket"> & { ip?: string }): string {
  const address = (req.ip ?? req.socket?.remoteAddress ?? "").replace(/%.*$/, "");
  if (!address) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  return isIPv6(address) ? ipv6Prefix64(address) : address;
}

function ipv6Prefix64(address: string): string {
  const [head, tail] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  // A trailing dotted IPv4 part takes two groups.
  const groupCount = (groups: string[]) => groups.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - groupCount(left) - groupCount(right))).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/** A refusal of the credentials a request presented: counted by the throttle when the request carried an Authorization header. */
export class CredentialRefusal extends HttpError {}

/**
 * Puts the throttle in front of a gate: a client over the limit gets 429 with
 * `Retry-After` before the gate looks at anything; a CredentialRefusal of a
 * request that presented credentials counts against its client.
 */
export function throttledGate(gate: Gate, throttle: FailureThrottle = new FailureThrottle()): Gate {
  return async (req, endpoint, runtime) => {
    const client = clientKey(req);
    const wait = throttle.retryAfterSeconds(client);
    if (wait > 0) throw new HttpError(429, THROTTLED_MESSAGE, { "Retry-After": String(wait) });
    try {
      await gate(req, endpoint, runtime);
    } catch (error) {
      if (error instanceof CredentialRefusal && req.headers.authorization !== undefined && throttle.recordFailure(client)) {
        error.detail = `${error.detail ?? "credentials refused"}; ${throttleNotice(throttle, client)}`;
      }
      throw error;
    }
  };
}

/** The log's word on a client that just went over the limit. */
export function throttleNotice(throttle: FailureThrottle, client: string): string {
  return (
    `${throttle.maxFailures} failed attempts from ${client} within ${throttle.windowMs / 1000} s: ` +
    `its requests are answered 429 for the next ${throttle.retryAfterSeconds(client)} s`
  );
}
