/** A value that survives JSON.stringify / JSON.parse unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const utf8 = new TextDecoder("utf-8", { fatal: true });

function hint(value: unknown): string {
  if (value === undefined) return "undefined is not JSON-serializable; pass null instead";
  if (typeof value === "bigint") return "BigInt is not JSON-serializable; pass value.toString()";
  if (typeof value === "number") return `${value} is not JSON-serializable; pass a finite number or null`;
  if (typeof value === "function") return "a function is not JSON-serializable";
  if (typeof value === "symbol") return "a Symbol is not JSON-serializable";
  if (value instanceof Date) return "Date is not JSON-serializable; pass date.toISOString()";
  if (value instanceof Map) return "Map is not JSON-serializable; pass Object.fromEntries(map)";
  if (value instanceof Set) return "Set is not JSON-serializable; pass [...set]";
  if (value instanceof RegExp) return "RegExp is not JSON-serializable; pass regexp.source";
  const name = (value as object).constructor?.name ?? "object";
  return `${name} instance is not JSON-serializable; pass a plain object, array or primitive`;
}

/** Deeper than this, the check below leaves the value to normalizeJson (which also finds cycles). */
const MAX_PLAIN_DEPTH = 64;

/** Whether `value` is already exactly what would be stored: no bytes to decode, nothing to refuse. Allocates nothing. */
function isPlainJson(value: unknown, depth: number): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || depth > MAX_PLAIN_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) {
    if (Object.hasOwn(value, key) && !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/**
 * `normalizeJson` for a value handed over for good, such as a task's return
 * value: one that is already plain JSON comes back as it is, not copied. A
 * worker checks every task's return value; copying each one was a tenth of
 * what a no-op task allocates.
 */
export function toStoredJson(value: unknown, path: string): JsonValue {
  return isPlainJson(value, 0) ? (value as JsonValue) : normalizeJson(value, path);
}

/**
 * Checks that `value` is a JSON value and returns it in the form that will be
 * stored. Bytes (Buffer, Uint8Array) are accepted when they are valid UTF-8 and
 * become that string, like django-database-task. Anything else that JSON would
 * silently change or drop is refused with a TypeError naming the path.
 */
export function normalizeJson(value: unknown, path: string, seen: Set<object> = new Set()): JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    throw new TypeError(`${path}: ${hint(value)}`);
  }
  if (typeof value !== "object") throw new TypeError(`${path}: ${hint(value)}`);
  if (value instanceof Uint8Array) {
    try {
      return utf8.decode(value);
    } catch {
      throw new TypeError(`${path}: bytes are not valid UTF-8; encode binary data as a base64 string`);
    }
  }
  if (seen.has(value)) throw new TypeError(`${path}: circular reference is not JSON-serializable`);
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item, i) => normalizeJson(item, `${path}[${i}]`, seen));
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`${path}: ${hint(value)}`);
    const out: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value)) {
      const child = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      out[key] = normalizeJson((value as Record<string, unknown>)[key], child, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
