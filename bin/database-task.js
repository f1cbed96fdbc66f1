#!/usr/bin/env node
// In a checkout, run the TypeScript sources directly (Node >= 22.18 strips types), with
// "database-task" imports of the user's config and task modules sent to those same sources
// (source-layout.js): one copy of the library, one task registry. An installed package has
// only the compiled dist/ (Node does not strip types inside node_modules), which is also what
// the user's imports of "database-task" resolve to.
import { sourceRoot } from "./source-layout.js";

const entry = sourceRoot ? new URL("cli/main.ts", sourceRoot) : new URL("../dist/cli/main.js", import.meta.url);
await import(entry.href);
