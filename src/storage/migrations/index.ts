import type { DialectName } from "../storage.ts";
import { migration0001 } from "./0001_create_task_table.ts";
import { migration0002 } from "./0002_notify_on_insert.ts";
import { migration0003 } from "./0003_dispatch_marker.ts";
import { migration0004 } from "./0004_leaner_indexes.ts";
import { migration0005 } from "./0005_dispatch_generation.ts";

/** Every migration, in order. A new one is added here once; each dialect takes its own statements from it. */
const MIGRATIONS = [migration0001, migration0002, migration0003, migration0004, migration0005];

export type MigrationStatements = Record<string, { up: string[]; down: string[] }>;

/** One dialect's DDL for each migration, by migration name. */
export function migrationStatementsFor(dialect: DialectName): MigrationStatements {
  return Object.fromEntries(MIGRATIONS.map((migration) => [migration.name, migration[dialect]]));
}
