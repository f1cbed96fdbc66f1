import { InvalidArgumentError, type Command } from "commander";
import { startEmulator, type RunningEmulator } from "../cloudtasks/emulator/index.ts";
import { createConsoleLogger } from "../log.ts";
import { out } from "./io.ts";
import { wholeNumber } from "./options.ts";
import { UsageError } from "./usage-error.ts";

interface EmulatorCommandOptions {
  host: string;
  port: number;
  certsPort?: number;
  issuer?: string;
  signingKey?: string;
  appEngineHost?: string;
  autoCreateQueues: boolean;
  dedupWindow?: number;
  quiet?: boolean;
}

function nonNegativeSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number of seconds >= 0.");
  return n;
}

function httpUrl(value: string): string {
  if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) throw new InvalidArgumentError("must be an http:// or https:// URL.");
  return value;
}

function printBanner(emulator: RunningEmulator): void {
  out(`Cloud Tasks emulator (google.cloud.tasks.v2) listening on ${emulator.grpcAddress}`);
  out(`OIDC signing certificates: ${emulator.certsUrl}`);
  out(`  (JWKS: ${emulator.jwksUrl}; issuer: ${emulator.issuer})`);
  out("");
  out("Point the Cloud Tasks backend at it:");
  out(`  export CLOUD_TASKS_EMULATOR_HOST=${emulator.grpcAddress}`);
  out("and, only where these tokens are to be trusted, let the OIDC check use its certificates");
  out(`(Cloud Tasks backend option oidcCertsUrl, or certsUrl of verifyCloudTasksOidc): "${emulator.certsUrl}"`);
  out("Stop with Ctrl-C.");
}

export function registerEmulatorCommand(program: Command): void {
  program
    .command("emulator")
    .description("Run a local Cloud Tasks emulator (gRPC) that dispatches tasks over HTTP and signs OIDC tokens; needs no database or config")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--port <port>", "gRPC port (0 = any free port)", wholeNumber(0, 65535), 8123)
    .option("--certs-port <port>", "port of the HTTP server with the OIDC certificates (default: gRPC port + 1, or any free port with --port 0)", wholeNumber(0, 65535))
    .option("--issuer <iss>", "iss claim of the OIDC tokens (default: https://accounts.google.com)")
    .option("--signing-key <file>", "PEM RSA private key to sign OIDC tokens with; created there if missing, so restarts keep the key")
    .option("--app-engine-host <url>", "base URL App Engine tasks are sent to (default: http://127.0.0.1:8080)", httpUrl)
    .option("--no-auto-create-queues", "answer NOT_FOUND for tasks in queues that were not created first")
    .option("--dedup-window <seconds>", "how long a finished or deleted task's name stays taken (default: 3600)", nonNegativeSeconds)
    .option("--quiet", "do not log each dispatch")
    .addHelpText("after", "\nExit status: 0 when stopped with SIGINT/SIGTERM, 1 when it cannot start, 2 for bad options.")
    .action(async (options: EmulatorCommandOptions) => {
      const certsPort = options.certsPort ?? (options.port === 0 ? 0 : options.port + 1);
      if (certsPort > 65535) throw new UsageError("--certs-port is needed when --port is 65535.");
      if (certsPort === options.port && certsPort !== 0) throw new UsageError("--certs-port must differ from --port.");
      const emulator = await startEmulator({
        host: options.host,
        port: options.port,
        certsPort,
        issuer: options.issuer,
        signingKeyFile: options.signingKey,
        createSigningKeyFile: true,
        appEngineHost: options.appEngineHost,
        autoCreateQueues: options.autoCreateQueues,
        taskDedupWindowMs: options.dedupWindow === undefined ? undefined : options.dedupWindow * 1000,
        logger: createConsoleLogger(options.quiet ? "warn" : undefined),
      });
      printBanner(emulator);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      process.stderr.write(`\nReceived ${signal}: stopping the emulator.\n`);
      await emulator.stop();
    });
}
