import type { Knex } from "knex";
import type { Dialect } from "./dialects/dialect.ts";

export const MIGRATIONS_TABLE = "database_task_migrations";

/**
 * The package's migrations as a knex migration source, so they can run from
 * `database-task migrate`, from `migrate()`, or from the application's own
 * knex migrations (`knex.migrate.latest({ migrationSource })`).
 */
export function migrationSource(dialect: Dialect): Knex.MigrationSource<string> {
  const names = Object.keys(dialect.migrationStatements).sort();
  return {
    getMigrations: async () => names,
    getMigrationName: (name) => name,
    getMigration: async (name) => {
      const { up, down } = dialect.migrationStatements[name];
      return {
        up: async (knex: Knex) => {
          for (const statement of up) await knex.raw(statement);
        },
        down: async (knex: Knex) => {
          for (const statement of down) await knex.raw(statement);
        },
      };
    },
  };
}

/** Applies pending migrations; knex's lock table makes concurrent migrators safe. Returns the names applied. */
export async function runMigrations(knex: Knex, dialect: Dialect): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({
    migrationSource: migrationSource(dialect),
    tableName: MIGRATIONS_TABLE,
  })) as [number, string[]];
  return applied;
}
