/**
 * A small logging seam: pass any object with these four methods (pino, winston
 * and console all fit) as `logger` in the configuration.
 */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

function formatMeta(meta?: Record<string, unknown>): string {
  if (!meta) return "";
  const parts = Object.entries(meta)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return parts.length ? ` ${parts.join(" ")}` : "";
}

/** Writes one line per message to stderr, so stdout stays for command output. */
export function createConsoleLogger(level: LogLevel = (process.env.DATABASE_TASK_LOG_LEVEL as LogLevel) || "info"): Logger {
  const threshold = LEVELS[level] ?? LEVELS.info;
  const write = (name: Exclude<LogLevel, "silent">) => (message: string, meta?: Record<string, unknown>) => {
    if (LEVELS[name] < threshold) return;
    process.stderr.write(`[database-task] ${name.toUpperCase()} ${message}${formatMeta(meta)}\n`);
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
