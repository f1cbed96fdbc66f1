import type { Express } from "express";
import type { AdminOptions } from "../admin/options.ts";
import { ConfigError } from "../errors.ts";

/** Environment variables that mount the admin UI at /admin/ in `serve` and handler/. */
export const ADMIN_ENV = {
  user: "DATABASE_TASK_ADMIN_USER",
  password: "DATABASE_TASK_ADMIN_PASSWORD",
  token: "DATABASE_TASK_ADMIN_TOKEN",
  secret: "DATABASE_TASK_ADMIN_SECRET",
} as const;

export const ADMIN_PATH = "/admin";

/**
 * The admin options the environment asks for, or null when it asks for none
 * (the admin is then not mounted: it never runs without authorization, except
 * `insecureDevelopmentMode`, loopback only and refused in production).
 */
export function adminOptionsFromEnvironment(env: NodeJS.ProcessEnv, { insecureDevelopmentMode = false } = {}): AdminOptions | null {
  const password = env[ADMIN_ENV.password]?.trim();
  const token = env[ADMIN_ENV.token]?.trim();
  const secret = env[ADMIN_ENV.secret]?.trim();
  if (env[ADMIN_ENV.user]?.trim() && !password) {
    throw new ConfigError(`${ADMIN_ENV.user} is set without ${ADMIN_ENV.password}; set both for HTTP Basic access to the admin UI.`);
  }
  if (!password && !token && !insecureDevelopmentMode) return null;
  return {
    ...(password && { basicAuth: { username: env[ADMIN_ENV.user]?.trim() || "admin", password } }),
    ...(token && { bearerToken: token }),
    ...(secret && { secret }),
    ...(!password && !token && { insecureDevelopmentMode: true }),
  };
}

/** An `extend` hook for createApp that mounts the admin UI, or undefined when it is not asked for. */
export async function adminExtension(options: AdminOptions | null): Promise<((app: Express) => void) | undefined> {
  if (!options) return undefined;
  // Loaded only when asked for: the admin's pages are not needed by a plain task handler.
  const { adminRouter } = await import("../admin/router.ts");
  const router = adminRouter(options); // validates now, so a bad setting stops the start, not the first request
  return (app) => {
    app.use(ADMIN_PATH, router);
  };
}
