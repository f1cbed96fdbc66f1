import type { JsonValue } from "../../task/json.ts";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      fractionalSecondDigits: 3,
      hourCycle: "h23",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** "2025-03-01 14:05:09" (or with ".123" when `millis`), in the configured zone: sortable, unambiguous, locale-free. */
export function formatTime(date: Date, timeZone: string, { millis = false } = {}): string {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(date).map((p) => [p.type, p.value]));
  const time = `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
  return millis ? `${time}.${parts.fractionalSecond}` : time;
}

/**
 * The list's ID column: the last 8 characters. django-database-task shows the
 * first 8 of its random ids; ours are UUIDv7, whose first 8 characters are the
 * enqueue time and alike for every task of the same minute.
 */
export function shortId(id: string): string {
  return id.slice(-8);
}

/** Long dotted names keep their informative end: "..." and the last 37 characters, as django-database-task shows them. */
export function shortTaskName(name: string): string {
  return name.length > 40 ? `...${name.slice(-37)}` : name;
}

export function prettyJson(value: JsonValue): string {
  return JSON.stringify(value, null, 2);
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** "1.2 s", "350 ms", "3 min 4 s": how long an attempt took, for the detail page. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
