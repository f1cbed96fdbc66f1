import { Server, ServerCredentials } from "@grpc/grpc-js";
import { silentLogger, type Logger } from "../../log.ts";
import { connectableHost, formatHostPort } from "./address.ts";
import { JWKS_PATH, PEM_CERTS_PATH, startCertsServer, type CertsServer } from "./certs-server.ts";
import { EmulatorCore } from "./core.ts";
import { HttpSender } from "./http-sender.ts";
import type { AttemptRecord, TaskOutcome } from "./model.ts";
import { GOOGLE_ISSUER, OidcSigner, type IdTokenRequest } from "./oidc-signer.ts";
import { loadCloudTasksService } from "./protos.ts";
import { cloudTasksImplementation } from "./service.ts";
import { generateSigningKey, loadSigningKey, signingKeyFromPem, type SigningKey } from "./signing-key.ts";
import { US_PER_MS } from "./time.ts";

export type { AttemptRecord, TaskOutcome, TaskOutcomeKind } from "./model.ts";
export type { IdTokenRequest } from "./oidc-signer.ts";
export { GOOGLE_ISSUER } from "./oidc-signer.ts";

export interface EmulatorOptions {
  /** Interface for both servers. Default 127.0.0.1. */
  host?: string;
  /** gRPC port; 0 (the default) picks a free one. The CLI defaults to 8123. */
  port?: number;
  /** Port of the HTTP server with the signing certificates; 0 (the default) picks a free one. */
  certsPort?: number;
  /** `iss` of the OIDC tokens. Default https://accounts.google.com, which google-auth-library accepts as is. */
  issuer?: string;
  /** OIDC token lifetime. Default 3600 s, as Google's. */
  tokenLifetimeSeconds?: number;
  /** PEM RSA private key to sign with. Default: a key generated at start. */
  signingKeyPem?: string | Buffer;
  /** File with a PEM RSA private key to sign with. */
  signingKeyFile?: string;
  /** With `signingKeyFile`: generate and save the key there when the file does not exist. */
  createSigningKeyFile?: boolean;
  /** CreateTask on a queue that does not exist creates it with default settings. Default true. */
  autoCreateQueues?: boolean;
  /** How long a finished or deleted task's name stays taken. Default 1 hour, as for API-created queues. */
  taskDedupWindowMs?: number;
  /** How long a deleted queue's name cannot be reused. Default 7 days, as documented. */
  queueReuseWindowMs?: number;
  /** Where App Engine tasks go (relative_uri is appended). Default http://127.0.0.1:8080. */
  appEngineHost?: string;
  /** Default 1 MiB (HTTP targets). */
  maxTaskSizeBytes?: number;
  /** Default 100 KiB (App Engine targets). */
  maxAppEngineTaskSizeBytes?: number;
  /** How many attempts and task outcomes are kept for inspection. Default 10000. */
  historyLimit?: number;
  /** Default: silent. */
  logger?: Logger;
}

export interface RunningEmulator {
  /** host:port to give CLOUD_TASKS_EMULATOR_HOST. */
  grpcAddress: string;
  host: string;
  port: number;
  /** PEM certificates ({kid: pem}), the URL to give the OIDC check as `certsUrl`. */
  certsUrl: string;
  /** The same keys as a JWK set. */
  jwksUrl: string;
  issuer: string;
  /** Key id in the header of every token the emulator signs. */
  kid: string;
  /** Attempts so far (most recent `historyLimit`), optionally for one task or queue (full names). */
  attempts(filter?: { taskName?: string; queueName?: string }): AttemptRecord[];
  /** How a task left the emulator, or undefined while it is still there (or was never seen). */
  outcome(taskName: string): TaskOutcome | undefined;
  /** Resolves when the task has succeeded, run out of attempts or been deleted. */
  waitForTask(taskName: string, options?: { timeoutMs?: number }): Promise<TaskOutcome>;
  /** Signs an ID token with the emulator's key, as it would for a task; `claims` adds or overrides claims. */
  signIdToken(request: IdTokenRequest): string;
  /** Stops dispatching, cuts running requests and closes both servers. */
  stop(): Promise<void>;
}

async function signingKey(options: EmulatorOptions): Promise<SigningKey> {
  if (options.signingKeyPem) return signingKeyFromPem(options.signingKeyPem);
  if (options.signingKeyFile) return loadSigningKey(options.signingKeyFile, options.createSigningKeyFile ?? false);
  return generateSigningKey();
}

function bindGrpc(server: Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)));
  });
}

function shutdownGrpc(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // Clients keep channels open; waiting politely for a moment, then closing them, keeps stop() prompt.
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 1000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/**
 * Starts a local Cloud Tasks (google.cloud.tasks.v2) gRPC server that
 * dispatches tasks over HTTP, plus an HTTP server with its OIDC signing keys.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? "127.0.0.1";
  const logger = options.logger ?? silentLogger;
  const issuer = options.issuer ?? GOOGLE_ISSUER;
  const signer = new OidcSigner(await signingKey(options), issuer, options.tokenLifetimeSeconds ?? 3600);
  const service = await loadCloudTasksService();
  const sender = new HttpSender();
  const core = new EmulatorCore({
    autoCreateQueues: options.autoCreateQueues ?? true,
    taskDedupWindowUs: (options.taskDedupWindowMs ?? 3600 * 1000) * US_PER_MS,
    queueReuseWindowUs: (options.queueReuseWindowMs ?? 7 * 24 * 3600 * 1000) * US_PER_MS,
    appEngineBaseUrl: new URL(options.appEngineHost ?? "http://127.0.0.1:8080").href,
    maxTaskSizeBytes: options.maxTaskSizeBytes ?? 1024 * 1024,
    maxAppEngineTaskSizeBytes: options.maxAppEngineTaskSizeBytes ?? 100 * 1024,
    historyLimit: options.historyLimit ?? 10_000,
    logger,
    sender,
    signer,
  });

  const grpcServer = new Server();
  grpcServer.addService(service, cloudTasksImplementation(core, logger));
  let port: number;
  let certs: CertsServer;
  try {
    port = await bindGrpc(grpcServer, formatHostPort(host, options.port ?? 0));
  } catch (error) {
    core.stop();
    grpcServer.forceShutdown();
    throw new Error(`Cannot listen for gRPC on ${formatHostPort(host, options.port ?? 0)}: ${(error as Error).message}`);
  }
  const grpcAddress = formatHostPort(connectableHost(host), port);
  try {
    certs = await startCertsServer({
      host,
      port: options.certsPort ?? 0,
      signer,
      info: () => ({ service: "Cloud Tasks emulator", grpcAddress, certsUrl: `${certs.baseUrl}${PEM_CERTS_PATH}`, jwksUrl: `${certs.baseUrl}${JWKS_PATH}`, issuer }),
    });
  } catch (error) {
    core.stop();
    grpcServer.forceShutdown();
    throw new Error(`Cannot listen for the certificates server on ${formatHostPort(host, options.certsPort ?? 0)}: ${(error as Error).message}`);
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      core.stop();
      sender.close();
      core.events.emit("stopped");
      await Promise.all([shutdownGrpc(grpcServer), certs.close()]);
    })();
    return stopping;
  };

  const waitForTask = (taskName: string, waitOptions: { timeoutMs?: number } = {}): Promise<TaskOutcome> => {
    const done = core.outcome(taskName);
    if (done) return Promise.resolve(done);
    const timeoutMs = waitOptions.timeoutMs ?? 30_000;
    return new Promise<TaskOutcome>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        core.events.off("finished", onFinished);
        core.events.off("stopped", onStopped);
      };
      const onFinished = (record: TaskOutcome) => {
        if (record.taskName !== taskName) return;
        cleanup();
        resolve(record);
      };
      const onStopped = () => {
        cleanup();
        reject(new Error(`The emulator stopped before task ${taskName} finished.`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`Task ${taskName} did not finish within ${timeoutMs} ms.`));
      }, timeoutMs);
      core.events.on("finished", onFinished);
      core.events.on("stopped", onStopped);
    });
  };

  return {
    grpcAddress,
    host,
    port,
    certsUrl: `${certs.baseUrl}${PEM_CERTS_PATH}`,
    jwksUrl: `${certs.baseUrl}${JWKS_PATH}`,
    issuer,
    kid: signer.kid,
    attempts: (filter) => core.attempts(filter),
    outcome: (taskName) => core.outcome(taskName),
    waitForTask,
    signIdToken: (request) => signer.sign(request),
    stop,
  };
}
