/**
 * The benchmark's own PostgreSQL plumbing: throwaway databases (created per
 * round, dropped at the end even on failure or Ctrl-C) and a plain client for
 * the few statements the harness runs itself.
 */
import pg from "pg";
import { randomSuffix } from "./util.ts";

export type Client = pg.Client;

/** A database URL on the same server as `serverUrl`, naming another database. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined); // a dropped connection surfaces on the next query
  await client.connect();
  return client;
}

/** Creates and drops the benchmark's databases; remembers what it created until it is dropped. */
export class DatabaseManager {
  readonly #serverUrl: string;
  readonly #created = new Set<string>();

  constructor(serverUrl: string) {
    this.#serverUrl = serverUrl;
  }

  async #admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await connect(databaseUrl(this.#serverUrl, "postgres"));
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** A fresh empty database `bench_<tag>_<random>`; resolves to its URL. */
  async create(tag: string): Promise<{ name: string; url: string }> {
    const name = `bench_${tag.replace(/[^a-z0-9]/gi, "").toLowerCase()}_${randomSuffix()}`;
    await this.#admin((client) => client.query(`CREATE DATABASE ${name}`));
    this.#created.add(name);
    return { name, url: databaseUrl(this.#serverUrl, name) };
  }

  async drop(name: string): Promise<void> {
    // FORCE ends any session still connected (a worker child that did not exit in time).
    await this.#admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    this.#created.delete(name);
  }

  /** Drops every database this manager created and has not dropped yet. */
  async dropAll(): Promise<void> {
    for (const name of [...this.#created]) {
      await this.drop(name).catch((error) => process.stderr.write(`bench: could not drop ${name}: ${String(error)}\n`));
    }
  }

  async serverVersion(): Promise<string> {
    return this.#admin(async (client) => (await client.query<{ server_version: string }>("SHOW server_version")).rows[0].server_version);
  }
}

/** The first column of the first row, as a number. */
export async function scalar(client: pg.Client, sql: string, params: unknown[] = []): Promise<number> {
  const result = await client.query(sql, params);
  const row = result.rows[0] as Record<string, unknown> | undefined;
  return Number(row ? Object.values(row)[0] : Number.NaN);
}
