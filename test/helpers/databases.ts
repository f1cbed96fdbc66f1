import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import knexFactory from "knex";

export type TestDialect = "postgres" | "mysql" | "sqlite";

export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const MYSQL_ADMIN_URL = process.env.TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

/** A database of its own for one test file; `drop()` removes it. */
export interface TestDatabase {
  dialect: TestDialect;
  url: string;
  drop(): Promise<void>;
}

const availability = new Map<TestDialect, Promise<boolean>>();

async function probe(dialect: TestDialect): Promise<boolean> {
  if (dialect === "sqlite") return true;
  const db =
    dialect === "postgres"
      ? knexFactory({ client: "pg", connection: POSTGRES_ADMIN_URL, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 3000 })
      : knexFactory({ client: "mysql2", connection: { uri: MYSQL_ADMIN_URL }, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 3000 });
  try {
    await db.raw("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await db.destroy();
  }
}

/**
 * Whether the server for `dialect` is reachable. Absent on a developer's
 * machine: the suite is skipped with one line saying so. Absent under CI=true:
 * a failure, since CI must test every database.
 */
export async function databaseAvailable(dialect: TestDialect): Promise<boolean> {
  if (!availability.has(dialect)) availability.set(dialect, probe(dialect));
  const ok = await availability.get(dialect)!;
  if (!ok) {
    if (process.env.CI) throw new Error(`${dialect} is not reachable, and CI=true requires it (see .ci/run, which starts it).`);
    console.warn(`[test] ${dialect} server not reachable: skipping its suite.`);
  }
  return ok;
}

export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  const name = `dt_test_${randomBytes(5).toString("hex")}`;
  if (dialect === "sqlite") {
    const dir = mkdtempSync(path.join(tmpdir(), "database-task-"));
    return { dialect, url: `sqlite://${path.join(dir, "test.sqlite3")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (dialect === "postgres") {
    const admin = knexFactory({ client: "pg", connection: POSTGRES_ADMIN_URL, pool: { min: 0, max: 1 } });
    await admin.raw(`CREATE DATABASE ${name}`);
    await admin.destroy();
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return {
      dialect,
      url: url.toString(),
      drop: async () => {
        const again = knexFactory({ client: "pg", connection: POSTGRES_ADMIN_URL, pool: { min: 0, max: 1 } });
        await again.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await again.destroy();
      },
    };
  }
  const admin = knexFactory({ client: "mysql2", connection: { uri: MYSQL_ADMIN_URL }, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.destroy();
  const url = new URL(MYSQL_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    dialect,
    url: url.toString(),
    drop: async () => {
      const again = knexFactory({ client: "mysql2", connection: { uri: MYSQL_ADMIN_URL }, pool: { min: 0, max: 1 } });
      await again.raw(`DROP DATABASE IF EXISTS ${name}`);
      await again.destroy();
    },
  };
}
