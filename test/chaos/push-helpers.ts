/**
 * What the push-path chaos tests need besides the emulator: `database-task
 * serve` child processes with a Cloud Tasks configuration (started, killed,
 * restarted on the same port), a round-robin TCP balancer in front of them,
 * and the run log their task writes.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import path from "node:path";
import type { RunningEmulator } from "../../src/cloudtasks/index.ts";
import { ROOT, startCli, type CliResult } from "../helpers/cli.ts";
import { cloudTasksTestConfig } from "../helpers/cloudtasks.ts";
import { waitFor } from "./helpers.ts";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Writes the project's database-task.config.mjs: the `cloudtasks` backend pointed at the emulator and at `handlerOrigin`. */
export function writePushConfig(dir: string, options: { database: string; emulator: RunningEmulator; handlerOrigin: string; extra?: Record<string, unknown> }): void {
  // The test helpers' configuration, without its silent logger (an object of functions): the handler logs to stderr.
  const { logger: _silent, ...config } = { ...cloudTasksTestConfig(options), tasks: [path.join(ROOT, "test/chaos/fixtures/push-tasks.ts")] };
  writeFileSync(path.join(dir, "database-task.config.mjs"), `export default ${JSON.stringify(config, null, 2)};\n`);
}

/** One `database-task serve` child process. */
export interface HandlerProcess {
  readonly pid: number;
  readonly port: number;
  readonly result: Promise<CliResult>;
  exited: boolean;
  kill(signal: NodeJS.Signals): void;
  stderr(): string;
}

const running = new Set<HandlerProcess>();

/** Starts `database-task serve` on 127.0.0.1:`port` in `dir`; resolves once it listens. */
export async function startHandler(dir: string, port: number, runLog: string): Promise<HandlerProcess> {
  const child = startCli(["serve", "--port", String(port), "--host", "127.0.0.1", "--grace-period", "1"], {
    cwd: dir,
    env: { CHAOS_RUN_LOG: runLog, DATABASE_TASK_API_TOKEN: "chaos-token" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk));
  const handler: HandlerProcess = {
    pid: child.pid!,
    port,
    result: child.result,
    exited: false,
    kill: (signal) => {
      if (!handler.exited) child.kill(signal);
    },
    stderr: () => stderr,
  };
  running.add(handler);
  void child.result.then(() => {
    handler.exited = true;
    running.delete(handler);
  });
  await waitFor(`serve on port ${port} to listen (stderr: ${stderr})`, () => handler.exited || stdout.includes("Listening on"), 30_000, 20);
  if (handler.exited) throw new Error(`serve on port ${port} exited at start: ${stderr}`);
  return handler;
}

/** SIGKILLs every handler still running, by pid, and waits for them. */
export async function stopHandlers(): Promise<void> {
  const alive = [...running];
  for (const handler of alive) handler.kill("SIGKILL");
  await Promise.all(alive.map((h) => h.result));
}

/**
 * A round-robin TCP balancer, as a platform's front end is: each connection
 * goes to the next backend port, or to the one after if that one refuses
 * (an instance being replaced). A connection to an instance that dies is cut.
 */
export async function startBalancer(ports: number[]): Promise<{ port: number; close(): Promise<void> }> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined); // a cut connection is what the caller sees; nothing to report here
    client.pause();
    const tryPort = (left: number) => {
      const port = ports[next++ % ports.length];
      const upstream = connect(port, "127.0.0.1");
      let connected = false;
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      upstream.once("connect", () => {
        connected = true;
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
      });
      upstream.once("error", () => {
        if (connected) return; // handled above: the client's connection is cut
        if (left > 1) tryPort(left - 1);
        else client.destroy();
      });
    };
    tryPort(ports.length);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RunLine {
  what: "start" | "end";
  taskId: string;
  workerId: string;
  pid: number;
}

export function readRunLog(file: string): RunLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [what, taskId, workerId, pid] = line.split(" ");
      return { what: what as RunLine["what"], taskId, workerId, pid: Number(pid) };
    });
}
