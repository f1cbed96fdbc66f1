import type { Backend } from "./backends/backend.ts";
import { DatabaseBackend } from "./backends/database.ts";
import { DummyBackend, ImmediateBackend } from "./backends/memory.ts";
import type { BackendConfig, DatabaseTaskConfig } from "./config/config.ts";
import { validateConfig } from "./config/config.ts";
import { importTaskModules, loadConfigFile } from "./config/load.ts";
import { ConfigError, UnknownBackendError, describeError } from "./errors.ts";
import { createConsoleLogger, type Logger } from "./log.ts";
import { createStorage, DEFAULT_SQLITE_FILE, type DatabaseConfig } from "./storage/connect.ts";
import type { SqlStorage } from "./storage/sql-storage.ts";
import { CompletionWriter } from "./worker/completions.ts";
import { LeaseKeeper } from "./worker/leases.ts";

const DEFAULT_BACKENDS: Record<string, BackendConfig> = { default: { backend: "database" } };
const DEFAULT_LEASE_SECONDS = 300;

type BackendFactory = (context: import("./backends/backend.ts").BackendContext) => Backend;
const backendFactories = new Map<string, BackendFactory>([
  ["database", (context) => new DatabaseBackend(context)],
  ["immediate", (context) => new ImmediateBackend(context)],
  ["dummy", (context) => new DummyBackend(context)],
]);

/** Lets an optional module (the Cloud Tasks backend) add a built-in backend name. */
export function registerBackendFactory(name: string, factory: BackendFactory): void {
  backendFactories.set(name, factory);
}

/**
 * Everything one configuration opens: the database connection (lazily), the
 * backends by name, the logger. One per process, set by `configure()` or
 * loaded from the config file on first use.
 */
export class Runtime {
  readonly config: DatabaseTaskConfig;
  readonly baseDir: string;
  readonly logger: Logger;
  #storage: SqlStorage | null = null;
  /** One lease keeper per lease length: workers' (worker.leaseSeconds) and deliveries' (shorter). */
  readonly #leases = new Map<number, LeaseKeeper>();
  #completions: CompletionWriter | null = null;
  readonly #backends = new Map<string, Backend>();

  constructor(config: DatabaseTaskConfig, baseDir: string) {
    this.config = config;
    this.baseDir = baseDir;
    this.logger = config.logger ?? createConsoleLogger();
  }

  get database(): DatabaseConfig {
    return process.env.DATABASE_URL || this.config.database || DEFAULT_SQLITE_FILE;
  }

  get backendConfigs(): Record<string, BackendConfig> {
    return this.config.backends ?? DEFAULT_BACKENDS;
  }

  get leaseMs(): number {
    return (this.config.worker?.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000;
  }

  storage(): SqlStorage {
    this.#storage ??= createStorage(this.database, this.logger, { preparedStatements: this.config.worker?.preparedStatements });
    return this.#storage;
  }

  /** Renews the leases of this process's running tasks; `leaseMs` defaults to the workers' lease. */
  leases(leaseMs = this.leaseMs): LeaseKeeper {
    let keeper = this.#leases.get(leaseMs);
    if (!keeper) {
      keeper = new LeaseKeeper(this.storage(), leaseMs, this.logger);
      this.#leases.set(leaseMs, keeper);
    }
    return keeper;
  }

  completions(): CompletionWriter {
    this.#completions ??= new CompletionWriter(this.storage(), this.logger);
    return this.#completions;
  }

  /** What running a claimed task needs: storage, lease renewal, batched outcome writes. */
  runContext(source: import("./task/result.ts").ResultSource, leases = this.leases()) {
    return { storage: this.storage(), leases, completions: this.completions(), logger: this.logger, source };
  }

  /** Calls `onTasks` when tasks are inserted anywhere (PostgreSQL NOTIFY); returns a stop function. */
  listenForTasks(onTasks: () => void): () => Promise<void> {
    return this.storage().listenForInserts(onTasks, this.logger);
  }

  backend(name = "default"): Backend {
    const existing = this.#backends.get(name);
    if (existing) return existing;
    const config = Object.hasOwn(this.backendConfigs, name) ? this.backendConfigs[name] : undefined;
    if (!config) throw new UnknownBackendError(name, Object.keys(this.backendConfigs));
    const factory = typeof config.backend === "function" ? config.backend : backendFactories.get(config.backend);
    if (!factory) {
      throw new ConfigError(
        `Backend "${name}" uses "${String(config.backend)}", which is not loaded; for "cloudtasks" import "database-task/cloudtasks" in your config file.`,
      );
    }
    const backend = factory({ name, queues: config.queues ?? [], options: config.options ?? {}, runtime: this, logger: this.logger });
    this.#backends.set(name, backend);
    return backend;
  }

  /** A backend whose tasks live in this runtime's database (what workers can run). */
  databaseBackend(name = "default"): DatabaseBackend {
    const backend = this.backend(name);
    if (!(backend instanceof DatabaseBackend)) {
      throw new ConfigError(`Backend "${name}" does not store tasks in the database, so there is nothing for a worker to run.`);
    }
    return backend;
  }

  async close(): Promise<void> {
    for (const backend of this.#backends.values()) await backend.close?.();
    this.#backends.clear();
    await this.#storage?.close();
    this.#storage = null;
    this.#leases.clear();
    this.#completions = null;
  }
}

let current: Runtime | null = null;
let loading: Promise<Runtime> | null = null;

/**
 * Sets this process's configuration (instead of, or before, the config file).
 * Replaces (and closes) a previous one.
 */
export function configure(config: DatabaseTaskConfig, options: { baseDir?: string } = {}): Runtime {
  const previous = current;
  current = new Runtime(validateConfig(config, "configure()"), options.baseDir ?? process.cwd());
  loading = null;
  if (previous) previous.close().catch((error: unknown) => current?.logger.warn("Closing the previous configuration failed", { error: describeError(error) }));
  return current;
}

/**
 * Loads a config file (the given path, else database-task.config.{ts,js} in
 * the working directory, else the SQLite default), imports its task modules
 * when asked, and makes it this process's configuration.
 */
export async function loadConfig(options: { configPath?: string | null; importTasks?: boolean } = {}): Promise<Runtime> {
  const { config, baseDir } = await loadConfigFile(options.configPath);
  // The Cloud Tasks backend pulls in Google's client libraries: load it only for a config that uses it.
  if (Object.values(config.backends ?? {}).some((b) => b.backend === "cloudtasks")) await import("./cloudtasks/register.ts");
  const runtime = configure(config, { baseDir });
  if (options.importTasks) await importTaskModules(config.tasks ?? [], baseDir);
  return runtime;
}

/** The process's runtime; on first use without configure(), the config file (or defaults). */
export async function getRuntime(): Promise<Runtime> {
  if (current) return current;
  loading ??= loadConfig();
  return loading;
}

export async function getBackend(name = "default"): Promise<Backend> {
  return (await getRuntime()).backend(name);
}

/** Applies the package's database migrations (what `database-task migrate` does). */
export async function migrate(): Promise<string[]> {
  return (await getRuntime()).storage().migrate();
}

/** Closes the database connections this process opened. */
export async function close(): Promise<void> {
  const runtime = current;
  current = null;
  loading = null;
  await runtime?.close();
}
