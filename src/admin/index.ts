/**
 * database-task/admin: an Express router with pages to find, inspect, run and
 * retry tasks. Mount it behind your own app: `app.use("/admin", adminRouter({ basicAuth }))`.
 */
export { adminRouter } from "./router.ts";
export type { AdminOptions } from "./options.ts";
