import type { Request } from "express";
import { HttpError } from "./respond.ts";

/**
 * Where a view's parameters come from: a JSON body (typed values) or the
 * query string (text). One set of rules reads both, so GET and POST purge
 * cannot drift apart.
 */
export interface Params {
  readonly fromQuery: boolean;
  /** The raw value; undefined when absent (a JSON null counts as absent). */
  get(name: string): unknown;
  /** Every parameter name given. */
  names(): string[];
}

export function bodyParams(body: Record<string, unknown>): Params {
  return {
    fromQuery: false,
    get: (name) => (Object.hasOwn(body, name) && body[name] !== null ? body[name] : undefined),
    names: () => Object.keys(body),
  };
}

/**
 * Reads the raw query string itself rather than `req.query`, whose shape
 * depends on the host application's "query parser" setting.
 */
export function queryParams(req: Request): Params {
  const url = req.originalUrl;
  const start = url.indexOf("?");
  const search = new URLSearchParams(start === -1 ? "" : url.slice(start + 1));
  return {
    fromQuery: true,
    get: (name) => {
      const values = search.getAll(name);
      if (values.length > 1) throw new HttpError(400, `${name} must be given once`);
      return values[0];
    },
    names: () => [...new Set(search.keys())],
  };
}

/** Refuses parameters the endpoint does not know: a misspelt option must not silently mean its default. */
export function onlyParams(params: Params, known: readonly string[]): void {
  const unknown = params.names().find((name) => !known.includes(name));
  if (unknown !== undefined) throw new HttpError(400, `Unknown parameter "${unknown.slice(0, 100)}"; known parameters: ${known.join(", ")}`);
}

export interface IntegerRule {
  default: number;
  min: number;
  max: number;
  /** Not a whole number (or not a number at all). */
  invalid: string;
  belowMin: string;
  aboveMax: string;
}

const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;

export function integerParam(params: Params, name: string, rule: IntegerRule): number {
  const raw = params.get(name);
  if (raw === undefined) return rule.default;
  let value: number;
  if (params.fromQuery && typeof raw === "string" && INTEGER_TEXT.test(raw)) value = Number(raw);
  else if (!params.fromQuery && typeof raw === "number" && Number.isInteger(raw)) value = raw;
  else throw new HttpError(400, rule.invalid);
  if (value < rule.min) throw new HttpError(400, rule.belowMin);
  if (value > rule.max) throw new HttpError(400, rule.aboveMax);
  return value;
}

const TRUE_TEXT = /^(true|1)$/i;
const FALSE_TEXT = /^(false|0)$/i;

/** A real boolean: JSON true/false, or the text "true"/"false"/"1"/"0" in any case (never "any non-empty string"). */
export function booleanParam(params: Params, name: string, fallback: boolean): boolean {
  const raw = params.get(name);
  if (raw === undefined) return fallback;
  if (typeof raw === "boolean" && !params.fromQuery) return raw;
  if (typeof raw === "string" && TRUE_TEXT.test(raw.trim())) return true;
  if (typeof raw === "string" && FALSE_TEXT.test(raw.trim())) return false;
  throw new HttpError(400, `${name} must be true or false`);
}

const MAX_NAME_LENGTH = 255;

/**
 * A queue or backend name; an empty one counts as absent, as in
 * django-database-task. Names that no row can hold are refused here, before
 * they reach a database that would choke on them (PostgreSQL rejects NUL).
 */
export function nameParam(params: Params, name: string): string | undefined {
  const raw = params.get(name);
  if (raw === undefined || raw === "") return undefined;
  if (typeof raw !== "string") throw new HttpError(400, `${name} must be a string`);
  if (raw.length > MAX_NAME_LENGTH) throw new HttpError(400, `${name} must be at most ${MAX_NAME_LENGTH} characters`);
  if (raw.includes("\u0000")) throw new HttpError(400, `${name} must not contain NUL characters`);
  return raw;
}

/** The purge `status` list: a comma-separated string (or, in JSON, an array of strings). */
export function statusListParam(params: Params, name: string, fallback: string): string[] {
  const raw = params.get(name);
  if (raw === undefined) return fallback.split(",");
  if (typeof raw === "string") return raw.split(",");
  if (Array.isArray(raw) && raw.every((item) => typeof item === "string")) return raw as string[];
  throw new HttpError(400, `${name} must be a comma-separated string of statuses`);
}
