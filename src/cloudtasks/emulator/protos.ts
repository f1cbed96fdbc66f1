import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ServiceDefinition } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * The v2 protos ship inside @google-cloud/tasks; the google/api, rpc and
 * protobuf protos they import ship inside google-gax. Both are located through
 * module resolution, so the emulator works wherever npm put them.
 */
function protoDirs(): string[] {
  const tasksProtos = path.dirname(fileURLToPath(import.meta.resolve("@google-cloud/tasks/build/protos")));
  const gaxProtos = path.join(path.dirname(fileURLToPath(import.meta.resolve("google-gax"))), "..", "protos");
  return [tasksProtos, gaxProtos];
}

let loading: Promise<ServiceDefinition> | undefined;

/** google.cloud.tasks.v2.CloudTasks; messages as camelCase objects, 64-bit ints as strings, enums by name. */
export function loadCloudTasksService(): Promise<ServiceDefinition> {
  loading ??= protoLoader
    .load("google/cloud/tasks/v2/cloudtasks.proto", {
      includeDirs: protoDirs(),
      keepCase: false,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
    })
    .then((definition) => definition["google.cloud.tasks.v2.CloudTasks"] as ServiceDefinition)
    .catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
  return loading;
}
