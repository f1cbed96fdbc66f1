import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/** `<hostname>-<8 hex>`, as django-database-task names its workers. */
export function newWorkerId(): string {
  return `${hostname()}-${randomBytes(4).toString("hex")}`;
}
