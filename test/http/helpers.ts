/** Starts the real app on 127.0.0.1 (a free port) and talks to it over real HTTP. */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import { configure, getRuntime, type BackendConfig } from "../../src/index.ts";
import { createApp, type AppOptions } from "../../src/http/index.ts";
import { TASK_TABLE } from "../../src/storage/storage.ts";
import type { Logger } from "../../src/log.ts";

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A logger that keeps what it was given, for tests that expect a warning or a logged error. */
export function recordingLogger(): Logger & { lines: { level: string; message: string; meta?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; meta?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, meta });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Configures this process against `url` (DATABASE_URL would override it: cleared) and applies migrations. */
export async function useDatabase(url: string, backends?: Record<string, BackendConfig>): Promise<void> {
  delete process.env.DATABASE_URL;
  configure({ database: url, backends, logger: silentLogger });
  await (await getRuntime()).storage().migrate();
}

export async function clearTasks(): Promise<void> {
  await (await getRuntime()).storage().knex(TASK_TABLE).delete();
}

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

export async function listen(app: Express): Promise<TestServer> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, "127.0.0.1", (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function startApp(options: AppOptions = {}): Promise<TestServer> {
  return listen(createApp({ allowUnauthenticated: true, logger: silentLogger, ...options }));
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body; undefined when it is not JSON. */
  json: unknown;
}

export async function request(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string | Uint8Array<ArrayBuffer>; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Uint8Array<ArrayBuffer> | undefined;
  if (options.raw !== undefined) {
    body = options.raw;
    // What a JSON client declares; the tests of other types set their own.
    headers["content-type"] ??= "application/json";
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(base + path, { method, headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The task table as plain rows, in a stable order: compared before and after a request that must change nothing. */
export async function snapshot(): Promise<unknown[]> {
  const rows = await (await getRuntime()).storage().knex(TASK_TABLE).select().orderBy("id");
  return rows.map((row: Record<string, unknown>) => JSON.parse(JSON.stringify(row)));
}

export async function taskRow(id: string) {
  return (await getRuntime()).storage().taskGet(id);
}
