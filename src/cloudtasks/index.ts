/**
 * database-task/cloudtasks: the Google Cloud Tasks backend, its OIDC check,
 * the client factory (emulator-aware), the detection utilities and the local
 * emulator. Importing it registers `backend: "cloudtasks"`.
 */
import "./register.ts";

export { CloudTasksDatabaseBackend, CloudTasksDispatchError, DEFAULT_HANDLER_PATH, type DispatchSummary } from "./backend.ts";
export type { CloudTasksOptions } from "./options.ts";
export { cloudTaskId } from "./task-name.ts";
export { dispatchPendingTasks, type DispatchOptions } from "./dispatch.ts";
export { createCloudTasksClient } from "./client.ts";
export { verifyCloudTasksOidc, verifyCloudTasksToken } from "./oidc.ts";
export { startEmulator, type EmulatorOptions, type RunningEmulator } from "./emulator/index.ts";
export {
  detectGcpProject,
  detectGcpProjectNumber,
  detectGcpLocation,
  detectTaskHandlerHost,
  detectTaskHandlerUrl,
  describeEnvironment,
  isAppEngine,
  isCloudRun,
} from "../detect/index.ts";
