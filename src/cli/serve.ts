import type { Command } from "commander";
import { ConfigError } from "../errors.ts";
import { ADMIN_ENV, adminOptionsFromEnvironment } from "../http/admin-mount.ts";
import { authFromEnvironment, ENV, portFromEnvironment } from "../http/settings.ts";
import { loadConfig } from "../runtime.ts";
import { out, type GlobalOptions } from "./io.ts";
import { positiveSeconds, wholeNumber } from "./options.ts";
import { UsageError } from "./usage-error.ts";

interface ServeCommandOptions {
  port?: number;
  host?: string;
  gracePeriod?: number;
  allowUnauthenticated?: boolean;
  adminDev?: boolean;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("Serve the HTTP endpoints (/tasks/run/, /tasks/execute/<id>/, ...) and /healthz; tasks run inside the requests")
    .option("--port <n>", `port to listen on (default: $${ENV.port}, else 8080; 0 = any free port)`, wholeNumber(0, 65_535))
    .option("--host <host>", "interface to listen on (default: $HOST, else 0.0.0.0 in production or on Cloud Run/App Engine, else 127.0.0.1)")
    .option("--grace-period <seconds>", "how long in-flight requests may finish after SIGTERM (default: 10)", positiveSeconds)
    .option("--allow-unauthenticated", `accept requests without a token (also ${ENV.allowUnauthenticated}=true)`)
    .option("--admin-dev", "mount the admin UI at /admin/ without credentials, for loopback clients only (refused in production)")
    .addHelpText(
      "after",
      `\nEnvironment: ${ENV.token} requires "Authorization: Bearer <token>" on the endpoints;\n` +
        `${ENV.port} sets the port. Stops on SIGTERM/SIGINT after in-flight requests finish (exit 0).\n` +
        `The admin UI is mounted at /admin/ with ${ADMIN_ENV.password} (HTTP Basic, user ${ADMIN_ENV.user}, default "admin")\n` +
        `or ${ADMIN_ENV.token} (bearer); ${ADMIN_ENV.secret} keeps its CSRF tokens valid across instances.\n`,
    )
    .action(async (options: ServeCommandOptions, command: Command) => {
      let port: number;
      let auth;
      let admin;
      try {
        port = options.port ?? portFromEnvironment();
        auth = authFromEnvironment();
        admin = adminOptionsFromEnvironment(process.env, { insecureDevelopmentMode: options.adminDev });
      } catch (error) {
        if (error instanceof ConfigError) throw new UsageError(error.message);
        throw error;
      }
      if (options.allowUnauthenticated) auth.allowUnauthenticated = true;
      const runtime = await loadConfig({ configPath: command.optsWithGlobals<GlobalOptions>().config, importTasks: true });
      let running;
      try {
        // Loaded here so the other commands never pay for Express.
        const { startServer } = await import("../http/server.ts");
        const { adminExtension } = await import("../http/admin-mount.ts");
        running = await startServer({
          extend: await adminExtension(admin),
          port,
          host: options.host,
          gracePeriodMs: options.gracePeriod === undefined ? undefined : options.gracePeriod * 1000,
          ...auth,
        });
      } catch (error) {
        await runtime.close();
        throw error;
      }
      out(`Listening on ${running.url}`);
      await running.closed;
    });
}
