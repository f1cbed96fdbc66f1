import { ConfigError } from "../errors.ts";
import type { AuthOptions } from "./auth.ts";

/**
 * The settings a deployed server takes from its environment, shared by
 * `database-task serve` and handler/ so both behave the same. Loads no
 * Express, so the CLI can read them without paying for it.
 */
export const ENV = {
  port: "PORT",
  token: "DATABASE_TASK_API_TOKEN",
  allowUnauthenticated: "DATABASE_TASK_ALLOW_UNAUTHENTICATED",
  config: "DATABASE_TASK_CONFIG",
} as const;

export const DEFAULT_PORT = 8080;

export function portFromEnvironment(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[ENV.port];
  if (raw === undefined || raw.trim() === "") return DEFAULT_PORT;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 65_535) throw new ConfigError(`${ENV.port} must be a port number (0-65535); got ${JSON.stringify(raw)}.`);
  return Number(raw);
}

export function authFromEnvironment(env: NodeJS.ProcessEnv = process.env): AuthOptions {
  const options: AuthOptions = {};
  const token = env[ENV.token]?.trim();
  if (token) options.bearerToken = token;
  const allow = env[ENV.allowUnauthenticated]?.trim().toLowerCase();
  if (allow === "true" || allow === "1") options.allowUnauthenticated = true;
  else if (allow && allow !== "false" && allow !== "0") {
    throw new ConfigError(`${ENV.allowUnauthenticated} must be "true" or "false"; got ${JSON.stringify(env[ENV.allowUnauthenticated])}.`);
  }
  return options;
}
