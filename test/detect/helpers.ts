/**
 * A local stand-in for the Google Cloud metadata server, plus environment
 * isolation, so detection runs through the real gcp-metadata client.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach } from "vitest";
import { resetDetectionCache } from "../../src/detect/index.ts";

export interface MetadataValues {
  "project/project-id"?: string;
  "project/numeric-project-id"?: string;
  "instance/region"?: string;
  "instance/zone"?: string;
}

export interface MetadataServer {
  /** host:port, the form GCE_METADATA_HOST takes. */
  host: string;
  /** Requests per path (without the /computeMetadata/v1/ prefix), counted whatever the answer. */
  hits: Map<string, number>;
  /** Requests refused for lacking the Metadata-Flavor header. */
  refused: number;
  hitsFor(path: string): number;
  close(): Promise<void>;
}

export interface MetadataServerOptions {
  /** Paths answered with this status instead of their value (e.g. 500 to simulate a failing server). */
  failWith?: Partial<Record<keyof MetadataValues, number>>;
  /** Leave out the Metadata-Flavor reply header, as something that is not the metadata server would. */
  impostor?: boolean;
}

const PREFIX = "/computeMetadata/v1/";

/**
 * Speaks the parts of the protocol gcp-metadata relies on: requests without
 * `Metadata-Flavor: Google` are refused with 403, answers carry that header,
 * directories without a trailing slash redirect, and unknown keys are 404.
 */
export async function startMetadataServer(values: MetadataValues, options: MetadataServerOptions = {}): Promise<MetadataServer> {
  const hits = new Map<string, number>();
  const state = { refused: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://metadata");
    const key = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) : url.pathname;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    if (!options.impostor) res.setHeader("Metadata-Flavor", "Google");
    res.setHeader("Content-Type", "application/text");
    if (req.headers["metadata-flavor"] !== "Google") {
      state.refused++;
      res.writeHead(403).end("Missing Metadata-Flavor:Google header.\n");
      return;
    }
    if (key === "instance" || key === "project") {
      res.writeHead(301, { Location: `${PREFIX}${key}/` }).end();
      return;
    }
    if (key === "instance/" || key === "project/") {
      const children = Object.keys(values)
        .filter((k) => k.startsWith(key))
        .map((k) => k.slice(key.length));
      res.writeHead(200).end(children.join("\n") + "\n");
      return;
    }
    const failure = options.failWith?.[key as keyof MetadataValues];
    if (failure) {
      res.writeHead(failure).end("failure\n");
      return;
    }
    const value = values[key as keyof MetadataValues];
    if (value === undefined) {
      res.writeHead(404).end("Not Found\n");
      return;
    }
    res.writeHead(200).end(value);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    hits,
    get refused() {
      return state.refused;
    },
    hitsFor: (path) => hits.get(path) ?? 0,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Accepts connections and never answers: a metadata address that swallows packets, but local. */
export async function startSilentServer(): Promise<{ host: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    connections: () => connections,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port that was just free: connecting to it is refused at once. */
export async function closedPortHost(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `127.0.0.1:${port}`;
}

/** Every variable detection or gcp-metadata reads, cleared so the host machine cannot leak in. */
export const DETECTION_ENV_VARS = [
  "GOOGLE_CLOUD_PROJECT",
  "GCLOUD_PROJECT",
  "GCP_PROJECT",
  "CLOUD_TASKS_LOCATION",
  "CLOUD_RUN_REGION",
  "GOOGLE_CLOUD_REGION",
  "K_SERVICE",
  "K_REVISION",
  "K_CONFIGURATION",
  "CLOUD_RUN_JOB",
  "CLOUD_RUN_WORKER_POOL",
  "FUNCTION_NAME",
  "GAE_APPLICATION",
  "GAE_SERVICE",
  "GAE_VERSION",
  "GAE_INSTANCE",
  "GAE_ENV",
  "APPENGINE_REGION_ID",
  "APPENGINE_DEFAULT_HOSTNAME",
  "GCE_METADATA_HOST",
  "GCE_METADATA_IP",
  "METADATA_SERVER_DETECTION",
  "DETECT_GCP_RETRIES",
];

/**
 * Restores process.env after each test and starts each one with no
 * detection variables and a fresh cache. Tests must point GCE_METADATA_HOST
 * at a local address before a lookup: nothing may reach 169.254.169.254.
 */
export function isolateEnvironment(): void {
  let saved: NodeJS.ProcessEnv = {};
  beforeEach(() => {
    saved = { ...process.env };
    for (const name of DETECTION_ENV_VARS) delete process.env[name];
    resetDetectionCache();
  });
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    resetDetectionCache();
  });
}

export function setEnv(values: Record<string, string>): void {
  Object.assign(process.env, values);
}

export async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await run();
  return { value, ms: performance.now() - start };
}
