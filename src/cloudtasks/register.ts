import { registerBackendFactory } from "../runtime.ts";
import { CloudTasksDatabaseBackend } from "./backend.ts";

// Importing this module makes `backend: "cloudtasks"` available in the configuration.
registerBackendFactory("cloudtasks", (context) => new CloudTasksDatabaseBackend(context));
