#!/usr/bin/env node
// In a checkout, run the TypeScript sources directly (Node >= 22.18 strips types);
// an installed package has only the compiled dist/ (Node does not strip types inside node_modules).
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
const compiled = new URL("../dist/cli/main.js", import.meta.url);
await import((existsSync(source) ? source : compiled).href);
