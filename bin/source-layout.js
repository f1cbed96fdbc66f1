// @ts-check
/**
 * One library per process in a checkout. bin/database-task.js and handler/index.ts run the
 * TypeScript sources (src/) when they are there; a user's task module that imports
 * "database-task" would get the compiled dist/ (through package self-reference, a
 * node_modules entry or an `npm link` symlink): a second copy, with its own task registry
 * and configuration. Importing this module installs a synchronous resolve hook that sends
 * "database-task" and every "database-task/<subpath>" of package.json "exports" to the
 * source file of that export (dist/X.js -> src/X.ts) whenever the specifier would resolve to
 * this very package directory (compared by realpath), so nothing else named database-task is
 * redirected. An installed package has no src/: then this module does nothing, and both the
 * CLI and the user's imports use dist/.
 *
 * Also usable as a preload for a script of your own in the checkout:
 * `node --import ./bin/source-layout.js script.js`.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { registerHooks } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = realpathSync(fileURLToPath(new URL("..", import.meta.url)));
const sourceDir = path.join(root, "src");

/** The URL of src/ when this package runs from its sources (a checkout), else null. */
export const sourceRoot = existsSync(sourceDir) ? pathToFileURL(sourceDir + path.sep) : null;

/** Bare specifier ("database-task", "database-task/express", ...) -> the URL of its source file. */
export const sourceSpecifiers = new Map();

if (sourceRoot) {
  const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
    const file = typeof target === "string" ? target : (target?.import ?? target?.default);
    const match = typeof file === "string" ? /^\.\/dist\/(.+)\.js$/.exec(file) : null;
    if (!match) continue; // "./package.json" and anything not compiled from src/ stay as they are.
    const source = path.join(sourceDir, `${match[1]}.ts`);
    if (existsSync(source)) sourceSpecifiers.set(subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`, pathToFileURL(source).href);
  }
  const packageJson = `${manifest.name}/package.json`;

  /** Whether `probe`, imported from where `context` says, is a file inside this package (by realpath). */
  const landsHere = (probe, context, nextResolve) => {
    const { url } = nextResolve(probe, context);
    if (!url.startsWith("file:")) return false;
    const file = realpathSync(fileURLToPath(url));
    return file === root || file.startsWith(root + path.sep);
  };

  /** Would this importer's "database-task" be this package? Asked through its package.json, which exists with or without dist/. */
  const resolvesToThisPackage = (specifier, context, nextResolve) => {
    for (const probe of [packageJson, specifier]) {
      try {
        return landsHere(probe, context, nextResolve);
      } catch {
        // Not exported there (another version), or not found: try the specifier itself, then give up.
      }
    }
    return false;
  };

  registerHooks({
    resolve(specifier, context, nextResolve) {
      const source = sourceSpecifiers.get(specifier);
      if (source && resolvesToThisPackage(specifier, context, nextResolve)) return { url: source, shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}
