/**
 * Time in the emulator is kept as integer microseconds since the epoch: Cloud
 * Tasks truncates schedule and attempt times to the microsecond, and integers
 * of that size stay exact in a double for the next few centuries.
 */

/** google.protobuf.Timestamp / Duration as @grpc/proto-loader hands them over (longs as strings). */
export interface ProtoSecondsNanos {
  seconds?: string | number | null;
  nanos?: number | null;
}

export const US_PER_MS = 1000;
export const US_PER_SECOND = 1_000_000;

/** performance.now() adds the sub-millisecond part that Date.now() lacks. */
export function nowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * US_PER_MS);
}

export function protoToUs(value: ProtoSecondsNanos | null | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value.seconds ?? 0);
  const nanos = Number(value.nanos ?? 0);
  if (!Number.isFinite(seconds) || !Number.isFinite(nanos)) return undefined;
  return seconds * US_PER_SECOND + Math.trunc(nanos / 1000);
}

export function usToProto(us: number): { seconds: string; nanos: number } {
  const seconds = Math.floor(us / US_PER_SECOND);
  return { seconds: String(seconds), nanos: (us - seconds * US_PER_SECOND) * 1000 };
}

/** Epoch seconds with six decimals, computed on integers so no float noise shows up in the header. */
export function usToEpochSecondsString(us: number): string {
  const seconds = Math.floor(us / US_PER_SECOND);
  return `${seconds}.${String(us - seconds * US_PER_SECOND).padStart(6, "0")}`;
}
