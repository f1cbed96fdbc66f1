import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import {
  describeEnvironment,
  detectGcpLocation,
  detectGcpProject,
  detectGcpProjectNumber,
  detectPlatform,
  detectTaskHandlerHost,
  detectTaskHandlerUrl,
  isAppEngine,
  isCloudRun,
  requireGcpLocation,
  requireGcpProject,
  requireTaskHandlerHost,
} from "../../src/detect/index.ts";
import { closedPortHost, isolateEnvironment, setEnv, startMetadataServer, startSilentServer, timed } from "./helpers.ts";

isolateEnvironment();

/** A correctness bound, not a benchmark: detection is meant to give up after about 2 s. */
const BOUND_MS = 3000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("off Google Cloud, with no metadata server (closed port)", () => {
  it("every function answers null quickly", async () => {
    setEnv({ GCE_METADATA_HOST: await closedPortHost() });
    expect(isCloudRun()).toBe(false);
    expect(isAppEngine()).toBe(false);
    expect(detectPlatform()).toBe("other");
    const { value, ms } = await timed(() =>
      Promise.all([detectGcpProject(), detectGcpProjectNumber(), detectGcpLocation(), detectTaskHandlerHost(), detectTaskHandlerUrl("/x/")]),
    );
    expect(value).toEqual([null, null, null, null, null]);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it("describes the environment as other, with the reasons", async () => {
    setEnv({ GCE_METADATA_HOST: await closedPortHost() });
    const described = await describeEnvironment();
    expect(described.platform).toBe("other");
    expect(described.metadataServer).toEqual({ available: false, note: "no metadata server is reachable" });
    expect(described.project.value).toBeNull();
    expect(described.project.note).toMatch(/GOOGLE_CLOUD_PROJECT.*no metadata server/);
    expect(described.taskHandlerHost.note).toMatch(/not running on Cloud Run/);
    expect(described.cloudRun).toBeNull();
    expect(described.appEngine).toBeNull();
  });

  it("still uses the environment variables", async () => {
    setEnv({ GCE_METADATA_HOST: await closedPortHost(), GCLOUD_PROJECT: "legacy-var", GOOGLE_CLOUD_REGION: "us-west1" });
    expect(await detectGcpProject()).toBe("legacy-var");
    expect(await detectGcpLocation()).toBe("us-west1");
    process.env.GCP_PROJECT = "older-var";
    delete process.env.GCLOUD_PROJECT;
    expect(await detectGcpProject()).toBe("older-var");
    process.env.GOOGLE_CLOUD_PROJECT = "  ";
    expect(await detectGcpProject()).toBe("older-var");
  });
});

describe("a metadata address that accepts connections and never answers", () => {
  async function silent(): Promise<string> {
    const s = await startSilentServer();
    cleanups.push(s.close);
    return s.host;
  }

  it("off Google Cloud: null within the bound, then remembered, so later calls are instant", async () => {
    setEnv({ GCE_METADATA_HOST: await silent() });
    const first = await timed(() => detectGcpProject());
    expect(first.value).toBeNull();
    expect(first.ms).toBeLessThan(BOUND_MS);
    const later = await timed(() => Promise.all([detectGcpLocation(), detectGcpProjectNumber(), detectTaskHandlerHost()]));
    expect(later.value).toEqual([null, null, null]);
    expect(later.ms).toBeLessThan(200);
  });

  it("on Cloud Run, where gcp-metadata sets no timeout at all: still null within the bound, every time", async () => {
    setEnv({ GCE_METADATA_HOST: await silent(), K_SERVICE: "billing" });
    for (const detect of [detectTaskHandlerHost, detectGcpProject, detectGcpLocation]) {
      const { value, ms } = await timed(() => detect());
      expect(value).toBeNull();
      expect(ms).toBeLessThan(BOUND_MS);
    }
    const { ms } = await timed(() => describeEnvironment());
    expect(ms).toBeLessThan(BOUND_MS);
    await expect(requireTaskHandlerHost()).rejects.toThrow(/did not answer in time/);
  });
});

describe("METADATA_SERVER_DETECTION", () => {
  it("none: the server is never asked", async () => {
    const server = await startMetadataServer({ "project/project-id": "never-seen" });
    cleanups.push(server.close);
    setEnv({ GCE_METADATA_HOST: server.host, METADATA_SERVER_DETECTION: "none" });
    expect(await detectGcpProject()).toBeNull();
    expect(server.hits.size).toBe(0);
  });

  it("an invalid value gives null, not an exception", async () => {
    setEnv({ GCE_METADATA_HOST: await closedPortHost(), METADATA_SERVER_DETECTION: "sometimes" });
    expect(await detectGcpProject()).toBeNull();
    expect((await describeEnvironment()).metadataServer.note).toMatch(/METADATA_SERVER_DETECTION/);
  });
});

describe("require*", () => {
  it("throw a ConfigError naming the option and the variable to set", async () => {
    setEnv({ GCE_METADATA_HOST: await closedPortHost() });
    const project = await requireGcpProject().catch((e: unknown) => e);
    expect(project).toBeInstanceOf(ConfigError);
    expect((project as ConfigError).code).toBe("CONFIG");
    expect((project as Error).message).toMatch(
      /^Could not detect the Google Cloud project: set `project` in the cloudtasks backend options or the GOOGLE_CLOUD_PROJECT environment variable\. Reason: none of GOOGLE_CLOUD_PROJECT/,
    );
    await expect(requireGcpLocation()).rejects.toThrow(
      /^Could not detect the Google Cloud location of the Cloud Tasks queues: set `location` in the cloudtasks backend options or the CLOUD_TASKS_LOCATION environment variable\./,
    );
    await expect(requireTaskHandlerHost()).rejects.toThrow(
      /^Could not detect the URL Cloud Tasks should call: set `handlerUrl` in the cloudtasks backend options\. Reason: not running on Cloud Run/,
    );
    await expect(requireGcpProject({ optionName: "projectId" })).rejects.toThrow(/set `projectId`/);
  });

  it("return the detected value when there is one", async () => {
    setEnv({ GCE_METADATA_HOST: await closedPortHost(), GOOGLE_CLOUD_PROJECT: "p", CLOUD_TASKS_LOCATION: "us-central1" });
    expect(await requireGcpProject()).toBe("p");
    expect(await requireGcpLocation()).toBe("us-central1");
  });
});
