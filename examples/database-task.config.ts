// The demo's configuration. No `database`: the embedded default, a SQLite
// file named database-task.sqlite3 in the working directory.
import { defineConfig } from "../src/index.ts";

export default defineConfig({
  tasks: ["./tasks.ts"],
  worker: { concurrency: 4, interval: 1 },
});
