import { describeError } from "../errors.ts";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import type { Logger } from "../log.ts";
import { close as closeRuntime, getRuntime } from "../runtime.ts";
import { startMaintenanceTimer } from "../maintenance.ts";
import { defaultListenHost } from "./deployment.ts";
import { createApp, type AppOptions } from "./app.ts";
import { DEFAULT_PORT } from "./settings.ts";

/** Cloud Run allows 10 s between SIGTERM and SIGKILL. */
export const DEFAULT_GRACE_PERIOD_MS = 10_000;

export interface ServerOptions extends AppOptions {
  /** Default 8080. Pass 0 for any free port. */
  port?: number;
  /** Default: HOST, else "0.0.0.0" in production (containers, Cloud Run, App Engine), else "127.0.0.1". */
  host?: string;
  /** How long in-flight requests may run on after SIGTERM/SIGINT. Default 10 s. */
  gracePeriodMs?: number;
  /** Serve this app instead of `createApp(options)`. */
  app?: Express;
  /**
   * On SIGTERM/SIGINT: stop accepting, drain, close the database, exit 0.
   * Default true; turn off to call `stop()` yourself.
   */
  handleSignals?: boolean;
}

export interface RunningServer {
  server: Server;
  /** e.g. "http://127.0.0.1:8080" */
  url: string;
  port: number;
  /** Stops accepting connections and resolves once in-flight requests finished (or the grace period ran out). */
  stop(gracePeriodMs?: number): Promise<void>;
  /** Resolves once the server has stopped. */
  closed: Promise<void>;
}

/** Starts the app and, unless told otherwise, drains and exits 0 on SIGTERM/SIGINT. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const logger: Logger = options.logger ?? (await getRuntime()).logger;
  const app = options.app ?? createApp(options);
  const defaultGrace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let drained: (() => void) | null = null;
  // While draining, answered connections are closed rather than kept for requests that would find us gone.
  const closeAfterAnswer = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader("Connection", "close");
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    if (draining) closeAfterAnswer(res);
    res.once("close", () => {
      inFlight.delete(res);
      if (draining) {
        server.closeIdleConnections();
        if (inFlight.size === 0) drained?.();
      }
    });
    app(req, res);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? DEFAULT_PORT, options.host ?? defaultListenHost(), () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const stopMaintenance = await startMaintenance(logger);
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let stopping: Promise<void> | null = null;

  const stop = (gracePeriodMs = defaultGrace): Promise<void> => {
    stopping ??= (async () => {
      draining = true;
      inFlight.forEach(closeAfterAnswer);
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const finished = await Promise.race([
          new Promise<boolean>((resolve) => (drained = () => resolve(true))),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), gracePeriodMs))),
        ]);
        clearTimeout(timer);
        if (!finished) logger.warn("Grace period over: closing connections with requests still running", { inFlight: inFlight.size });
      }
      server.closeAllConnections();
      await serverClosed;
      stopMaintenance();
      resolveClosed();
    })();
    return stopping;
  };

  if (options.handleSignals ?? true) {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn(`Received ${signal} again: exiting now`);
        process.exit(130);
      }
      logger.info(`Received ${signal}: finishing in-flight requests, then exiting`, { inFlight: inFlight.size });
      void stop()
        .then(() => closeRuntime())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error("Shutdown failed", { error: describeError(error) });
            process.exit(1);
          },
        );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    void closed.then(() => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    });
  }

  return { server, url: `http://${host}:${address.port}`, port: address.port, stop, closed };
}

/**
 * Runs the maintenance pass on a timer while the server is up, when a backend
 * delivers its tasks itself (Cloud Tasks): on instances that stay up it
 * re-dispatches what was never handed over and re-creates what Cloud Tasks gave
 * up on, without waiting for Cloud Scheduler. Creating every backend here also
 * surfaces a bad backend configuration at start, not at the first request.
 */
async function startMaintenance(logger: Logger): Promise<() => void> {
  const runtime = await getRuntime();
  for (const name of Object.keys(runtime.backendConfigs)) runtime.backend(name);
  const stop = startMaintenanceTimer(runtime);
  logger.debug("Maintenance timer started");
  return stop;
}
