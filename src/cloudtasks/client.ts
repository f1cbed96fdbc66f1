import { CloudTasksClient } from "@google-cloud/tasks";
// grpc comes from google-gax, not @grpc/grpc-js: the client checks the credentials against
// gax's own copy, and a second copy would not type-check (googleapis/nodejs-tasks#462).
import { grpc } from "google-gax";

/** The variable other Google Cloud emulators use too; `host:port`. */
export const CLOUD_TASKS_EMULATOR_HOST_ENV = "CLOUD_TASKS_EMULATOR_HOST";

export type CloudTasksClientOptions = NonNullable<ConstructorParameters<typeof CloudTasksClient>[0]>;

export interface CreateCloudTasksClientOptions {
  /** `host:port` of a Cloud Tasks emulator; overrides CLOUD_TASKS_EMULATOR_HOST. */
  emulatorHost?: string;
  /** Passed to the CloudTasksClient constructor (credentials, projectId, ...). */
  clientOptions?: CloudTasksClientOptions;
  /** Where CLOUD_TASKS_EMULATOR_HOST is read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Splits `host:port`, `[v6]:port` or a bare host (port 8123, the usual emulator port). */
export function parseEmulatorHost(value: string): { host: string; port: number } {
  const trimmed = value.trim().replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(trimmed);
  if (!match) throw new Error(`${CLOUD_TASKS_EMULATOR_HOST_ENV} must be host:port, got "${value}".`);
  const port = match[3] === undefined ? 8123 : Number(match[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${CLOUD_TASKS_EMULATOR_HOST_ENV} has an invalid port in "${value}".`);
  return { host: match[1] ?? match[2], port };
}

/**
 * The real CloudTasksClient. With an emulator host (option or
 * CLOUD_TASKS_EMULATOR_HOST) it talks plain-text gRPC to that host and never
 * looks for Google credentials; otherwise it is the default client, which uses
 * Application Default Credentials.
 */
export function createCloudTasksClient(options: CreateCloudTasksClientOptions = {}): CloudTasksClient {
  const emulatorHost = options.emulatorHost || (options.env ?? process.env)[CLOUD_TASKS_EMULATOR_HOST_ENV] || undefined;
  if (!emulatorHost) return new CloudTasksClient(options.clientOptions);
  const { host, port } = parseEmulatorHost(emulatorHost);
  return new CloudTasksClient({
    ...options.clientOptions,
    servicePath: host,
    apiEndpoint: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    // Stated, so that gax does not ask Application Default Credentials (and with them the
    // metadata server) which universe the credentials belong to: an emulator needs none.
    universeDomain: options.clientOptions?.universeDomain ?? "googleapis.com",
  });
}
