import { loadConfig } from "../runtime.ts";
import { defaultListenHost } from "./deployment.ts";
import { startServer, type RunningServer, type ServerOptions } from "./server.ts";
import { adminExtension, adminOptionsFromEnvironment } from "./admin-mount.ts";
import { authFromEnvironment, ENV, portFromEnvironment } from "./settings.ts";

/**
 * What handler/ runs: the config file (DATABASE_TASK_CONFIG, else
 * database-task.config.* in the working directory) with its task modules,
 * then the server on PORT (default 8080), on HOST, else every interface in
 * production (Cloud Run, App Engine, NODE_ENV=production), else loopback.
 */
export async function serveFromEnvironment(overrides: ServerOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const port = portFromEnvironment(env);
  const auth = authFromEnvironment(env);
  const admin = adminOptionsFromEnvironment(env);
  const runtime = await loadConfig({ configPath: env[ENV.config] || null, importTasks: true });
  try {
    return await startServer({ port, host: defaultListenHost(env), ...auth, extend: await adminExtension(admin), ...overrides });
  } catch (error) {
    await runtime.close();
    throw error;
  }
}
