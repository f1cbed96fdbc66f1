import { afterEach, describe, expect, it } from "vitest";
import * as gcpMetadata from "gcp-metadata";
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
  requireTaskHandlerHost,
  resetDetectionCache,
} from "../../src/detect/index.ts";
import { isolateEnvironment, setEnv, startMetadataServer, type MetadataServer, type MetadataValues } from "./helpers.ts";

isolateEnvironment();

let server: MetadataServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const CLOUD_RUN_METADATA = {
  "project/project-id": "my-proj",
  "project/numeric-project-id": "123456789012",
  "instance/region": "projects/123456789012/regions/europe-west1",
  "instance/zone": "projects/123456789012/zones/europe-west1-1",
};

/** What Cloud Run sets: the K_* variables and PORT, never the project or region. */
async function onCloudRun(values: MetadataValues = CLOUD_RUN_METADATA, service = "billing"): Promise<MetadataServer> {
  server = await startMetadataServer(values);
  setEnv({
    K_SERVICE: service,
    K_REVISION: `${service}-00042-abc`,
    K_CONFIGURATION: service,
    PORT: "8080",
    GCE_METADATA_HOST: server.host,
  });
  return server;
}

describe("the stand-in metadata server", () => {
  it("refuses requests without Metadata-Flavor: Google and marks its answers with it", async () => {
    const s = await onCloudRun();
    const bare = await fetch(`http://${s.host}/computeMetadata/v1/project/project-id`);
    expect(bare.status).toBe(403);
    const proper = await fetch(`http://${s.host}/computeMetadata/v1/project/project-id`, { headers: { "Metadata-Flavor": "Google" } });
    expect(proper.status).toBe(200);
    expect(proper.headers.get("metadata-flavor")).toBe("Google");
    expect(await proper.text()).toBe("my-proj");
    const unknown = await fetch(`http://${s.host}/computeMetadata/v1/instance/hostname`, { headers: { "Metadata-Flavor": "Google" } });
    expect(unknown.status).toBe(404);
  });

  it("is reached by the real gcp-metadata client with the header it requires", async () => {
    const s = await onCloudRun();
    resetDetectionCache();
    gcpMetadata.resetIsAvailableCache();
    expect(await gcpMetadata.isAvailable()).toBe(true);
    expect(await gcpMetadata.project("project-id")).toBe("my-proj");
    expect(s.refused).toBe(0);
  });
});

describe("on simulated Cloud Run", () => {
  it("is recognised from K_SERVICE alone", async () => {
    await onCloudRun();
    expect(isCloudRun()).toBe(true);
    expect(isAppEngine()).toBe(false);
    expect(detectPlatform()).toBe("cloud-run");
  });

  it("reads the project, project number and region from the metadata server", async () => {
    await onCloudRun();
    expect(await detectGcpProject()).toBe("my-proj");
    expect(await detectGcpProjectNumber()).toBe("123456789012");
    expect(await detectGcpLocation()).toBe("europe-west1");
  });

  it("builds the deterministic URL from the project NUMBER, not the project id", async () => {
    await onCloudRun();
    expect(await detectTaskHandlerHost()).toBe("https://billing-123456789012.europe-west1.run.app");
    expect(await detectTaskHandlerUrl("/tasks/execute/{task_id}/")).toBe(
      "https://billing-123456789012.europe-west1.run.app/tasks/execute/{task_id}/",
    );
    expect(await detectTaskHandlerUrl("tasks/")).toBe("https://billing-123456789012.europe-west1.run.app/tasks/");
  });

  it("keeps a project number too long for a double exact", async () => {
    await onCloudRun({ ...CLOUD_RUN_METADATA, "project/numeric-project-id": "98765432109876543210" });
    expect(await detectGcpProjectNumber()).toBe("98765432109876543210");
    expect(await detectTaskHandlerHost()).toBe("https://billing-98765432109876543210.europe-west1.run.app");
  });

  it("prefers GOOGLE_CLOUD_PROJECT and CLOUD_TASKS_LOCATION when they are set, without asking the server", async () => {
    const s = await onCloudRun();
    setEnv({ GOOGLE_CLOUD_PROJECT: "from-env", CLOUD_TASKS_LOCATION: "us-east1" });
    expect(await detectGcpProject()).toBe("from-env");
    expect(await detectGcpLocation()).toBe("us-east1");
    expect(s.hitsFor("project/project-id")).toBe(0);
    expect(s.hitsFor("instance/region")).toBe(0);
  });

  it("uses the region the service runs in for its URL, even when the queues live elsewhere", async () => {
    await onCloudRun();
    setEnv({ CLOUD_TASKS_LOCATION: "us-east1", CLOUD_RUN_REGION: "asia-east1" });
    expect(await detectGcpLocation()).toBe("us-east1");
    expect(await detectTaskHandlerHost()).toBe("https://billing-123456789012.europe-west1.run.app");
  });

  it("falls back to CLOUD_RUN_REGION for the URL when the server has no region", async () => {
    const { "instance/region": _r, "instance/zone": _z, ...noRegion } = CLOUD_RUN_METADATA;
    await onCloudRun(noRegion);
    expect(await detectTaskHandlerHost()).toBeNull();
    resetDetectionCache();
    setEnv({ CLOUD_RUN_REGION: "asia-east1" });
    expect(await detectTaskHandlerHost()).toBe("https://billing-123456789012.asia-east1.run.app");
  });

  it("answers null, with the reason, when SERVICE-PROJECT_NUMBER is over 63 characters", async () => {
    const service = "s".repeat(51); // 51 + "-" + 12 digits = 64
    await onCloudRun(CLOUD_RUN_METADATA, service);
    expect(await detectTaskHandlerHost()).toBeNull();
    await expect(requireTaskHandlerHost()).rejects.toThrow(/set `handlerUrl`.*64 characters, over the 63/);
    const described = await describeEnvironment();
    expect(described.taskHandlerHost.value).toBeNull();
    expect(described.taskHandlerHost.note).toMatch(/64 characters/);

    resetDetectionCache();
    process.env.K_SERVICE = "s".repeat(50); // exactly 63
    expect(await detectTaskHandlerHost()).toBe(`https://${"s".repeat(50)}-123456789012.europe-west1.run.app`);
  });

  it("asks the metadata server once per value for the life of the process", async () => {
    const s = await onCloudRun();
    for (let i = 0; i < 3; i++) {
      expect(await detectGcpProject()).toBe("my-proj");
      expect(await detectGcpLocation()).toBe("europe-west1");
      expect(await detectTaskHandlerHost()).toBe("https://billing-123456789012.europe-west1.run.app");
    }
    await Promise.all([detectGcpProjectNumber(), detectTaskHandlerHost(), describeEnvironment()]);
    expect(s.hitsFor("project/project-id")).toBe(1);
    expect(s.hitsFor("project/numeric-project-id")).toBe(1);
    expect(s.hitsFor("instance/region")).toBe(1);
    expect(s.hitsFor("instance/zone")).toBe(0);
    // gcp-metadata's availability probe: GET instance, redirected to instance/.
    expect(s.hitsFor("instance")).toBe(1);

    resetDetectionCache();
    expect(await detectGcpProject()).toBe("my-proj");
    expect(s.hitsFor("project/project-id")).toBe(2);
    expect(s.hitsFor("instance")).toBe(2);
  });

  it("shares one lookup between concurrent callers", async () => {
    const s = await onCloudRun();
    const results = await Promise.all(Array.from({ length: 10 }, () => detectTaskHandlerHost()));
    expect(new Set(results)).toEqual(new Set(["https://billing-123456789012.europe-west1.run.app"]));
    expect(s.hitsFor("project/numeric-project-id")).toBe(1);
    expect(s.hitsFor("instance")).toBe(1);
  });

  it("describes the environment with the source of every value", async () => {
    await onCloudRun();
    const described = await describeEnvironment();
    expect(described).toEqual({
      platform: "cloud-run",
      project: { value: "my-proj", source: "metadata:project/project-id", note: null },
      projectNumber: { value: "123456789012", source: "metadata:project/numeric-project-id", note: null },
      location: { value: "europe-west1", source: "metadata:instance/region", note: null },
      taskHandlerHost: { value: "https://billing-123456789012.europe-west1.run.app", source: "cloud-run:K_SERVICE+metadata", note: null },
      metadataServer: { available: true, note: null },
      cloudRun: { service: "billing", revision: "billing-00042-abc", configuration: "billing" },
      appEngine: null,
    });
  });
});

describe("a metadata server with only a zone (Compute Engine, GKE)", () => {
  it("derives the region from instance/zone", async () => {
    server = await startMetadataServer({ "project/project-id": "vm-proj", "instance/zone": "projects/42/zones/us-central1-a" });
    setEnv({ GCE_METADATA_HOST: server.host });
    expect(await detectGcpLocation()).toBe("us-central1");
    expect(await detectGcpProject()).toBe("vm-proj");
    expect(server.hitsFor("instance/region")).toBe(1);
    expect(server.hitsFor("instance/zone")).toBe(1);
    // No K_SERVICE and no GAE_*: there is no URL to give.
    expect(await detectTaskHandlerHost()).toBeNull();
    expect(detectPlatform()).toBe("other");
  });
});

describe("a failing metadata server", () => {
  it("gives null instead of throwing, and asks again on the next call", async () => {
    server = await startMetadataServer(CLOUD_RUN_METADATA, { failWith: { "project/project-id": 500 } });
    setEnv({ K_SERVICE: "billing", GCE_METADATA_HOST: server.host });
    const first = performance.now();
    expect(await detectGcpProject()).toBeNull();
    expect(performance.now() - first).toBeLessThan(3000);
    const asked = server.hitsFor("project/project-id");
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(await detectGcpProject()).toBeNull();
    expect(server.hitsFor("project/project-id")).toBeGreaterThan(asked);
    // The values that did answer are still fine and still cached.
    expect(await detectTaskHandlerHost()).toBe("https://billing-123456789012.europe-west1.run.app");
  });

  it("does not trust a server that omits the Metadata-Flavor reply header", async () => {
    server = await startMetadataServer(CLOUD_RUN_METADATA, { impostor: true });
    setEnv({ K_SERVICE: "billing", GCE_METADATA_HOST: server.host });
    expect(await detectGcpProject()).toBeNull();
    expect(await detectTaskHandlerHost()).toBeNull();
    const described = await describeEnvironment();
    expect(described.metadataServer.available).toBe(false);
  });
});
