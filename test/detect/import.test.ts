/**
 * `database-task/detect` is imported by scripts and other apps: it must load
 * neither the database layer nor Express, and must not touch the network, on
 * import. A fresh Node process records every module it resolves (through a
 * module.registerHooks resolve hook, which sees import, dynamic import and
 * require alike) and every socket it opens.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";
import { DETECTION_ENV_VARS, startMetadataServer } from "./helpers.ts";

const DETECT = pathToFileURL(path.join(ROOT, "src/detect/index.ts")).href;

const PROBE = `
import { registerHooks } from "node:module";
import net from "node:net";
const resolved = [];
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    resolved.push(result.url);
    return result;
  },
});
let sockets = 0;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) { sockets++; return connect.apply(this, args); };

const detect = await import(process.env.DETECT_URL);
const syncAnswers = { isCloudRun: detect.isCloudRun(), isAppEngine: detect.isAppEngine(), platform: detect.detectPlatform() };
await new Promise((resolve) => setTimeout(resolve, 300));
const afterImport = { resolved: [...resolved], sockets };

// Then a lookup that needs the metadata server does load gcp-metadata and connect:
// this proves the recording above would have seen them.
const project = await detect.detectGcpProject();
console.log(JSON.stringify({ afterImport, syncAnswers, exports: Object.keys(detect).sort(), project, later: { resolved, sockets } }));
`;

interface ProbeReport {
  afterImport: { resolved: string[]; sockets: number };
  syncAnswers: Record<string, unknown>;
  exports: string[];
  project: string | null;
  later: { resolved: string[]; sockets: number };
}

function runProbe(env: NodeJS.ProcessEnv): Promise<ProbeReport> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", PROBE], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`probe exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout) as ProbeReport);
    });
  });
}

describe("importing src/detect/index.ts", () => {
  it("loads neither knex nor express nor the database layer, and opens no socket", async () => {
    const server = await startMetadataServer({ "project/project-id": "from-metadata" });
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, DETECT_URL: DETECT };
      for (const name of DETECTION_ENV_VARS) delete env[name];
      env.GCE_METADATA_HOST = server.host;
      const report = await runProbe(env);

      const loaded = report.afterImport.resolved;
      expect(loaded.some((url) => url.endsWith("/src/detect/index.ts"))).toBe(true);
      for (const forbidden of ["/node_modules/knex/", "/node_modules/express/", "/node_modules/gcp-metadata/", "/node_modules/gaxios/"]) {
        expect(loaded.filter((url) => url.includes(forbidden))).toEqual([]);
      }
      const ownModules = loaded.filter((url) => url.startsWith(pathToFileURL(ROOT).href) && !url.includes("/node_modules/"));
      expect([...new Set(ownModules.map((url) => url.slice(pathToFileURL(ROOT).href.length)))].sort()).toEqual([
        "/src/detect/env.ts",
        "/src/detect/index.ts",
        "/src/detect/metadata.ts",
        "/src/detect/urls.ts",
        "/src/errors.ts",
      ]);
      expect(report.afterImport.sockets).toBe(0);
      expect(report.syncAnswers).toEqual({ isCloudRun: false, isAppEngine: false, platform: "other" });

      expect(report.exports).toEqual(
        [
          "DETECTION_TIMEOUT_MS",
          "describeEnvironment",
          "detectGcpLocation",
          "detectGcpProject",
          "detectGcpProjectNumber",
          "detectPlatform",
          "detectTaskHandlerHost",
          "detectTaskHandlerUrl",
          "isAppEngine",
          "isCloudRun",
          "requireGcpLocation",
          "requireGcpProject",
          "requireTaskHandlerHost",
          "resetDetectionCache",
        ].sort(),
      );

      // The recorder works: the first real lookup does load gcp-metadata and connect.
      expect(report.project).toBe("from-metadata");
      expect(report.later.resolved.some((url) => url.includes("/node_modules/gcp-metadata/"))).toBe(true);
      expect(report.later.sockets).toBeGreaterThan(0);
      // Every request the server saw belongs to that lookup: the probe and the one value.
      expect([...server.hits.keys()].sort()).toEqual(["instance", "instance/", "project/project-id"]);
      expect(report.later.resolved.some((url) => url.includes("/node_modules/knex/") || url.includes("/node_modules/express/"))).toBe(false);
    } finally {
      await server.close();
    }
  });
});
