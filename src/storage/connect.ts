import knexFactory, { type Knex } from "knex";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Dialect } from "./dialects/dialect.ts";
import { mysqlDialect } from "./dialects/mysql.ts";
import { postgresDialect } from "./dialects/postgres.ts";
import { sqliteDialect } from "./dialects/sqlite.ts";
import { migrationSource } from "./migrate.ts";
import { SqlStorage } from "./sql-storage.ts";

/** A connection URL, a knex configuration, or a knex instance the application already has. */
export type DatabaseConfig = string | Knex.Config | Knex;

export const DEFAULT_SQLITE_FILE = "database-task.sqlite3";

const CLIENT_DIALECTS: Record<string, Dialect> = {
  pg: postgresDialect,
  postgres: postgresDialect,
  postgresql: postgresDialect,
  mysql: mysqlDialect,
  mysql2: mysqlDialect,
  "better-sqlite3": sqliteDialect,
  sqlite3: sqliteDialect,
};

function isKnexInstance(value: unknown): value is Knex {
  return typeof value === "function" && typeof (value as Knex).client === "object" && typeof (value as Knex).raw === "function";
}

/** Turns a database URL into a knex configuration. */
export function knexConfigFromUrl(url: string): Knex.Config {
  const scheme = /^([a-z0-9+]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") {
    return { client: "pg", connection: url };
  }
  if (scheme === "mysql" || scheme === "mariadb" || scheme === "mysql2") {
    return { client: "mysql2", connection: { uri: url.replace(/^[a-z0-9+]+:/i, "mysql:") } as Knex.MySql2ConnectionConfig };
  }
  if (scheme === "sqlite" || scheme === "file") {
    // sqlite:///absolute/path, sqlite://relative/path, sqlite:path, file:path
    const filename = url.replace(/^(sqlite|file):(\/\/)?/i, "") || DEFAULT_SQLITE_FILE;
    return { client: "better-sqlite3", connection: { filename } };
  }
  if (!scheme || /\.(sqlite3?|db)$/i.test(url)) {
    return { client: "better-sqlite3", connection: { filename: url } };
  }
  throw new ConfigError(
    `Unsupported database URL scheme "${scheme}:"; use postgres://, mysql://, mariadb:// or sqlite:// (or a path to a SQLite file).`,
  );
}

function dialectFor(client: unknown): Dialect {
  const name = typeof client === "string" ? client : (client as { prototype?: { dialect?: string } })?.prototype?.dialect;
  const dialect = name ? CLIENT_DIALECTS[name] : undefined;
  if (!dialect) {
    throw new ConfigError(`Unsupported knex client "${String(name)}"; database-task supports pg, mysql2 and better-sqlite3.`);
  }
  return dialect;
}

/**
 * Fills in what each dialect needs to be correct: UTC times on MySQL, on
 * SQLite a WAL journal with a busy timeout so several processes can share a
 * file, and on PostgreSQL a fresh plan for every run of a prepared statement.
 */
function withDialectDefaults(config: Knex.Config, dialect: Dialect): Knex.Config {
  if (dialect === postgresDialect) {
    const userAfterCreate = config.pool?.afterCreate;
    return {
      ...config,
      pool: {
        ...config.pool,
        // After five runs PostgreSQL may switch a prepared statement to a generic plan, made for
        // the table as it was then and kept as it grows: a worker that started on an almost empty
        // table drained 100,000 tasks 15-30x slower than a fresh one. A one-task claim measured
        // the same with a custom plan; the statements stay parsed once per connection.
        afterCreate(connection: { query(sql: string, callback: (error: Error | null) => void): void }, done: (error: Error | null, connection: unknown) => void) {
          connection.query("SET plan_cache_mode = force_custom_plan", (error) => {
            if (error) done(error, connection);
            else if (userAfterCreate) userAfterCreate(connection, done);
            else done(null, connection);
          });
        },
      },
    };
  }
  if (dialect === mysqlDialect) {
    const connection = typeof config.connection === "string" ? { uri: config.connection } : { ...(config.connection as object) };
    return {
      ...config,
      connection: { timezone: "Z", charset: "utf8mb4", ...connection } as Knex.MySql2ConnectionConfig,
    };
  }
  if (dialect === sqliteDialect) {
    const userAfterCreate = config.pool?.afterCreate;
    return {
      ...config,
      useNullAsDefault: true,
      pool: {
        ...config.pool,
        afterCreate(connection: { pragma(sql: string): unknown }, done: (error: Error | null, connection: unknown) => void) {
          try {
            connection.pragma("journal_mode = WAL");
            connection.pragma("busy_timeout = 10000");
            connection.pragma("synchronous = NORMAL");
          } catch (error) {
            done(error as Error, connection);
            return;
          }
          if (userAfterCreate) userAfterCreate(connection, done);
          else done(null, connection);
        },
      },
    };
  }
  return config;
}

/** Knex's own messages (pool retries and the like) go to our logger at debug level: we report failures ourselves. */
function knexLog(logger?: Logger): Knex.Config["log"] {
  if (!logger) return undefined;
  const forward = (message: unknown) => logger.debug(`knex: ${typeof message === "string" ? message : String(message)}`);
  return { warn: forward, error: forward, deprecate: forward, debug: forward };
}

export function createStorage(database: DatabaseConfig, logger?: Logger, options: { preparedStatements?: boolean } = {}): SqlStorage {
  if (isKnexInstance(database)) {
    // Not our connections: the session setting that keeps prepared statements on fresh plans
    // (above) is not ours to make, so the hot statements are prepared only when asked for.
    return new SqlStorage(database, dialectFor(database.client.config?.client ?? database.client.dialect), {
      ownsKnex: false,
      preparedStatements: options.preparedStatements === true,
    });
  }
  const config = typeof database === "string" ? knexConfigFromUrl(database) : database;
  const dialect = dialectFor(config.client);
  // compileSqlOnError off: knex would otherwise put the statement, task arguments inlined, into error messages and logs.
  return new SqlStorage(knexFactory({ log: knexLog(logger), compileSqlOnError: false, ...withDialectDefaults(config, dialect) }), dialect, {
    ownsKnex: true,
    ...options,
  });
}

/**
 * This package's migrations for your own knex instance, to run from your
 * application's migration flow:
 * `knex.migrate.latest({ migrationSource: migrationSourceFor(knex), tableName: "database_task_migrations" })`.
 */
export function migrationSourceFor(knex: Knex): Knex.MigrationSource<string> {
  return migrationSource(dialectFor(knex.client.config?.client ?? knex.client.dialect));
}
