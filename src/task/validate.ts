import { InvalidTaskError } from "../errors.ts";

export const MIN_PRIORITY = -100;
export const MAX_PRIORITY = 100;

export function validatePriority(priority: unknown): number {
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    throw new InvalidTaskError(
      `priority must be a whole number between ${MIN_PRIORITY} and ${MAX_PRIORITY}; got ${describe(priority)}.`,
    );
  }
  return priority;
}

export function validateName(name: unknown, what: string): string {
  if (typeof name !== "string" || name.trim() === "" || name.length > 255) {
    throw new InvalidTaskError(`${what} must be a non-empty string of at most 255 characters; got ${describe(name)}.`);
  }
  return name;
}

export function validateRunAfter(runAfter: unknown): Date | null {
  if (runAfter === null || runAfter === undefined) return null;
  if (!(runAfter instanceof Date) || Number.isNaN(runAfter.getTime())) {
    throw new InvalidTaskError(`runAfter must be a valid Date (or null); got ${describe(runAfter)}.`);
  }
  return runAfter;
}

export function validateMaxAttempts(maxAttempts: unknown): number {
  if (typeof maxAttempts !== "number" || !Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 1000) {
    throw new InvalidTaskError(`maxAttempts must be a whole number between 1 and 1000; got ${describe(maxAttempts)}.`);
  }
  return maxAttempts;
}

export function validateTimeout(timeout: unknown): number | null {
  if (timeout === null) return null;
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0) {
    throw new InvalidTaskError(`timeout must be a number of seconds > 0 (or null for none); got ${describe(timeout)}.`);
  }
  return timeout;
}

export function validateQueue(queueName: string, allowed: readonly string[], backendName: string): void {
  if (allowed.length > 0 && !allowed.includes(queueName)) {
    throw new InvalidTaskError(
      `Queue "${queueName}" is not valid for backend "${backendName}"; its queues are ${allowed.map((q) => `"${q}"`).join(", ")}. ` +
        `Add it to the backend's "queues" list, or set "queues: []" to allow any queue.`,
    );
  }
}

export function describe(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : `Date ${value.toISOString()}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "object" && value !== null) return value.constructor?.name ?? "object";
  return String(value);
}
