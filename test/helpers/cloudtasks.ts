import type { DatabaseTaskConfig } from "../../src/index.ts";
import type { RunningEmulator } from "../../src/cloudtasks/index.ts";

export const TEST_PROJECT = "demo-project";
export const TEST_LOCATION = "local1";
export const TEST_INVOKER = "invoker@demo-project.iam.gserviceaccount.com";
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A configuration whose `default` backend is `cloudtasks`, pointed at a local
 * emulator (gRPC and its signing certificates) and at a handler URL, with OIDC on.
 */
export function cloudTasksTestConfig(options: {
  database: string;
  emulator: RunningEmulator;
  handlerOrigin: string;
  extra?: Record<string, unknown>;
}): DatabaseTaskConfig {
  return {
    database: options.database,
    backends: {
      default: {
        backend: "cloudtasks",
        options: {
          project: TEST_PROJECT,
          location: TEST_LOCATION,
          handlerUrl: `${options.handlerOrigin}/tasks/execute/{task_id}/`,
          serviceAccountEmail: TEST_INVOKER,
          oidcCertsUrl: options.emulator.certsUrl,
          emulatorHost: options.emulator.grpcAddress,
          ...options.extra,
        },
      },
    },
    logger: quiet,
  };
}
