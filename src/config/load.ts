import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError, errorMessage } from "../errors.ts";
import { validateConfig, type DatabaseTaskConfig } from "./config.ts";

export const CONFIG_FILE_NAMES = ["database-task.config.ts", "database-task.config.mts", "database-task.config.js", "database-task.config.mjs"];

export interface LoadedConfig {
  config: DatabaseTaskConfig;
  /** The file it came from, or null for the built-in defaults. */
  file: string | null;
  /** Where relative task module paths are resolved from. */
  baseDir: string;
}

/** Finds the config file: an explicit path, else the first default name in `cwd`. */
export function findConfigFile(explicit?: string | null, cwd = process.cwd()): string | null {
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigError(`Config file not found: ${file}`);
    return file;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = path.join(cwd, name);
    if (existsSync(file)) return file;
  }
  return null;
}

export async function loadConfigFile(explicit?: string | null, cwd = process.cwd()): Promise<LoadedConfig> {
  const file = findConfigFile(explicit, cwd);
  if (!file) return { config: {}, file: null, baseDir: cwd };
  let module: { default?: unknown };
  try {
    module = await import(pathToFileURL(file).href);
  } catch (error) {
    throw new ConfigError(`Could not load config file ${file}: ${errorMessage(error)}`, { cause: error });
  }
  const exported = module.default ?? module;
  const config = typeof exported === "function" ? await (exported as () => unknown)() : exported;
  return { config: validateConfig(config, file), file, baseDir: path.dirname(file) };
}

/** Imports the modules that define tasks, so their task() calls register them. */
export async function importTaskModules(modules: string[], baseDir: string): Promise<void> {
  for (const spec of modules) {
    const target = spec.startsWith(".") || path.isAbsolute(spec) ? pathToFileURL(path.resolve(baseDir, spec)).href : spec;
    try {
      await import(target);
    } catch (error) {
      throw new ConfigError(`Could not import task module "${spec}" (from ${baseDir}): ${errorMessage(error)}`, { cause: error });
    }
  }
}
