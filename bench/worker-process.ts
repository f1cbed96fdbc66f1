/**
 * The parent's handle on one worker child (bench/child.ts): spawn it, send it
 * commands, wait for its answers. Every child is tracked so an interrupted run
 * can end exactly the processes it started.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ChildMessage, ParentMessage } from "./protocol.ts";
import type { SystemName } from "./systems/system.ts";

const CHILD_SCRIPT = fileURLToPath(new URL("./child.ts", import.meta.url));

type MessageOf<T extends ChildMessage["type"]> = Extract<ChildMessage, { type: T }>;

interface Waiter {
  type: ChildMessage["type"];
  resolve: (message: ChildMessage) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Children alive right now, for cleanup on Ctrl-C. */
const live = new Set<WorkerProcess>();

/**
 * Node flags a system's own documentation gives for a worker process. This
 * project's README caps V8's heap for long-running workers: the young
 * generation (on a machine with much memory Node 24 lets it grow to 128 MiB
 * under a high allocation rate) and the old generation's headroom (by default
 * up to 4x what survives a full GC, grown in steps over the first ~50,000
 * tasks: most of the rise between the memory goal's two readings).
 */
const WORKER_NODE_FLAGS: Partial<Record<SystemName, string[]>> = {
  "database-task": ["--max-semi-space-size=4", "--heap-growing-percent=100"],
};

export class WorkerProcess {
  readonly system: SystemName;
  readonly #child: ChildProcess;
  readonly #inbox: ChildMessage[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #jobStarts = new Map<number, number>();
  readonly #jobWaiters = new Map<number, (at: number) => void>();
  #exited = false;
  #failure: Error | null = null;

  private constructor(system: SystemName, child: ChildProcess) {
    this.system = system;
    this.#child = child;
    child.on("message", (message: ChildMessage) => this.#receive(message));
    child.on("exit", (code, signal) => {
      this.#exited = true;
      live.delete(this);
      this.#fail(new Error(`${system} worker process exited (code ${code}, signal ${signal})`));
    });
    live.add(this);
  }

  /** Spawns a worker child for `system` on `url` and waits until it is ready to start. */
  /** `claimMode`: database-task only; its adapter's default is "lock". */
  static async spawn(
    system: SystemName,
    url: string,
    options: { concurrency: number; pollSeconds: number; claimMode?: "lease" | "lock" },
  ): Promise<WorkerProcess> {
    const child = fork(CHILD_SCRIPT, [], {
      env: {
        ...process.env,
        BENCH_SYSTEM: system,
        BENCH_DB_URL: url,
        BENCH_CONCURRENCY: String(options.concurrency),
        BENCH_POLL_SECONDS: String(options.pollSeconds),
        ...(options.claimMode && { BENCH_CLAIM_MODE: options.claimMode }),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // Lets the memory phase read the heap after a full GC; nothing collects unless asked.
      execArgv: [...process.execArgv, "--expose-gc", ...(WORKER_NODE_FLAGS[system] ?? [])],
    });
    const handle = new WorkerProcess(system, child);
    await handle.next("ready", 60_000);
    return handle;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  send(message: ParentMessage): void {
    if (this.#failure) throw this.#failure;
    this.#child.send(message);
  }

  /** The next message of this type (buffered if it already arrived). */
  next<T extends ChildMessage["type"]>(type: T, timeoutMs: number): Promise<MessageOf<T>> {
    const index = this.#inbox.findIndex((message) => message.type === type);
    if (index >= 0) return Promise.resolve(this.#inbox.splice(index, 1)[0] as MessageOf<T>);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        type,
        resolve: resolve as (message: ChildMessage) => void,
        reject,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(new Error(`${this.system} worker process: no "${type}" within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** When the job tagged `tag` started in the child (epoch ms), or null after `timeoutMs`. */
  jobStarted(tag: number, timeoutMs: number): Promise<number | null> {
    const at = this.#jobStarts.get(tag);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#jobWaiters.delete(tag);
        resolve(null);
      }, timeoutMs);
      this.#jobWaiters.set(tag, (started) => {
        clearTimeout(timer);
        resolve(started);
      });
    });
  }

  async rss(options: { gc?: boolean } = {}): Promise<MessageOf<"rss">> {
    this.send({ cmd: "rss", gc: options.gc });
    return this.next("rss", 10_000);
  }

  /** Graceful stop; a child that does not finish in time is killed. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    try {
      this.send({ cmd: "stop" });
      await this.next("stopped", timeoutMs);
    } catch (error) {
      this.kill();
      throw error;
    } finally {
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (!this.#exited) this.kill();
    }
  }

  kill(): void {
    if (!this.#exited) this.#child.kill("SIGKILL");
  }

  #receive(message: ChildMessage): void {
    if (message.type === "jobStarted") {
      const waiter = this.#jobWaiters.get(message.tag);
      if (waiter) {
        this.#jobWaiters.delete(message.tag);
        waiter(message.at);
      } else {
        this.#jobStarts.set(message.tag, message.at);
      }
      return;
    }
    if (message.type === "failed") {
      this.#fail(new Error(`${this.system} worker process failed:\n${message.error}`));
      return;
    }
    const index = this.#waiters.findIndex((waiter) => waiter.type === message.type);
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1);
      clearTimeout(waiter.timer);
      waiter.resolve(message);
    } else {
      this.#inbox.push(message);
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#failure);
    }
  }
}

/** Kills every worker child still running (Ctrl-C, or a failed run). */
export function killAllWorkers(): void {
  for (const worker of live) worker.kill();
}
