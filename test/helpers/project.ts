import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "./cli.ts";

/** A throwaway working directory with a database-task.config.mjs pointing at `databaseUrl` and the fixture tasks. */
export function makeProject(databaseUrl: string, extra = ""): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "database-task-project-"));
  const tasks = path.join(ROOT, "test/fixtures/tasks.ts");
  writeFileSync(
    path.join(dir, "database-task.config.mjs"),
    `export default {\n  database: ${JSON.stringify(databaseUrl)},\n  tasks: [${JSON.stringify(tasks)}],\n${extra}};\n`,
  );
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
