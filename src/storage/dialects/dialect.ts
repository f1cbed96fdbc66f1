import type { Knex } from "knex";
import type { Capabilities, ClaimByIdRequest, ClaimRequest, DialectName } from "../storage.ts";

/** A row as the driver returns it, before decoding. */
export type RawRow = Record<string, unknown>;

/**
 * Everything that differs between databases: value encodings, the claim
 * statements (the hot path), and the DDL. Portable statements are in
 * sql-storage.ts, written once with the knex builder.
 */
export interface Dialect {
  readonly name: DialectName;
  readonly capabilities: Capabilities;
  encodeDate(date: Date): unknown;
  decodeDate(value: unknown): Date | null;
  /** Drivers that parse JSON columns themselves (pg with jsonb) hand back values, the rest strings. */
  readonly driverParsesJson: boolean;
  /** Claims up to `limit` due READY tasks and marks them RUNNING, in one short transaction. */
  claim(knex: Knex, request: ClaimRequest): Promise<RawRow[]>;
  /** Claims one task by id if its status is one of `request.statuses`. */
  claimById(knex: Knex, request: ClaimByIdRequest): Promise<RawRow | undefined>;
  /** Rows per INSERT statement (SQLite caps compound statements at 500 terms). */
  readonly insertChunkSize: number;
  readonly migrationStatements: Record<string, { up: string[]; down: string[] }>;
}

/** Columns written when an attempt starts, shared by every dialect's claim. */
export const CLAIM_ORDER = "priority DESC, available_at ASC";
