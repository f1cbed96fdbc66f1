import { afterEach, describe, expect, it } from "vitest";
import {
  describeEnvironment,
  detectGcpLocation,
  detectGcpProject,
  detectPlatform,
  detectTaskHandlerHost,
  isAppEngine,
  isCloudRun,
  requireTaskHandlerHost,
} from "../../src/detect/index.ts";
import { closedPortHost, isolateEnvironment, setEnv, startMetadataServer, type MetadataServer } from "./helpers.ts";

isolateEnvironment();

let server: MetadataServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/**
 * The variables App Engine standard sets. GOOGLE_CLOUD_PROJECT is left out
 * unless a test adds it, so that GAE_APPLICATION is what gets parsed.
 */
async function onAppEngine(env: { application: string; service?: string; version?: string }, metadata?: Parameters<typeof startMetadataServer>[0]) {
  const host = metadata ? (server = await startMetadataServer(metadata)).host : await closedPortHost();
  setEnv({
    GAE_APPLICATION: env.application,
    GAE_SERVICE: env.service ?? "default",
    GAE_ENV: "standard",
    GAE_INSTANCE: "00c61b117c1b",
    GAE_RUNTIME: "nodejs24",
    GCE_METADATA_HOST: host,
  });
  if (env.version !== undefined) process.env.GAE_VERSION = env.version;
}

describe("on simulated App Engine", () => {
  it("is recognised from GAE_SERVICE or GAE_APPLICATION", async () => {
    await onAppEngine({ application: "s~my-app", version: "v1" });
    expect(isAppEngine()).toBe(true);
    expect(isCloudRun()).toBe(false);
    expect(detectPlatform()).toBe("app-engine");
    delete process.env.GAE_SERVICE;
    expect(isAppEngine()).toBe(true);
    delete process.env.GAE_APPLICATION;
    process.env.GAE_SERVICE = "default";
    expect(isAppEngine()).toBe(true);
  });

  it.each([
    ["s~my-app", "my-app"],
    ["e~sales", "sales"],
    ["s~sales", "sales"], // lstrip("s~") gave "ales"
    ["s~s-team", "s-team"],
    ["p~ssss", "ssss"],
    ["my-app", "my-app"],
  ])("takes the project from GAE_APPLICATION=%s as %s", async (application, project) => {
    await onAppEngine({ application, version: "v1" });
    expect(await detectGcpProject()).toBe(project);
  });

  it("prefers GOOGLE_CLOUD_PROJECT over GAE_APPLICATION", async () => {
    await onAppEngine({ application: "s~my-app", version: "v1" });
    setEnv({ GOOGLE_CLOUD_PROJECT: "the-real-one" });
    expect(await detectGcpProject()).toBe("the-real-one");
  });

  describe("the handler URL pins the version that enqueued", () => {
    it("default service, no region id: the legacy appspot.com form, with a note saying so", async () => {
      await onAppEngine({ application: "s~my-app", version: "20250101t120000" });
      expect(await detectTaskHandlerHost()).toBe("https://20250101t120000-dot-my-app.appspot.com");
      const described = await describeEnvironment();
      expect(described.taskHandlerHost.source).toBe("app-engine:legacy");
      expect(described.taskHandlerHost.note).toMatch(/APPENGINE_REGION_ID/);
    });

    it("non-default service, no region id", async () => {
      await onAppEngine({ application: "e~sales", service: "worker", version: "v7" });
      expect(await detectTaskHandlerHost()).toBe("https://v7-dot-worker-dot-sales.appspot.com");
    });

    it("default service with APPENGINE_REGION_ID", async () => {
      await onAppEngine({ application: "s~my-app", version: "v1" });
      setEnv({ APPENGINE_REGION_ID: "uc" });
      expect(await detectTaskHandlerHost()).toBe("https://v1-dot-my-app.uc.r.appspot.com");
    });

    it("non-default service with APPENGINE_REGION_ID", async () => {
      await onAppEngine({ application: "s~sales", service: "worker", version: "v1" });
      setEnv({ APPENGINE_REGION_ID: "uc" });
      expect(await detectTaskHandlerHost()).toBe("https://v1-dot-worker-dot-sales.uc.r.appspot.com");
    });

    it("region id as an option, which beats the environment", async () => {
      await onAppEngine({ application: "e~sales", service: "worker", version: "v1" });
      setEnv({ APPENGINE_REGION_ID: "uc" });
      expect(await detectTaskHandlerHost({ appEngineRegionId: "ew" })).toBe("https://v1-dot-worker-dot-sales.ew.r.appspot.com");
    });

    it("the app's defaultHostname as an option or from APPENGINE_DEFAULT_HOSTNAME", async () => {
      await onAppEngine({ application: "s~my-app", service: "worker", version: "v2" });
      expect(await detectTaskHandlerHost({ appEngineHostname: "my-app.uc.r.appspot.com" })).toBe(
        "https://v2-dot-worker-dot-my-app.uc.r.appspot.com",
      );
      expect(await detectTaskHandlerHost({ appEngineHostname: "https://My-App.uc.r.appspot.com/" })).toBe(
        "https://v2-dot-worker-dot-my-app.uc.r.appspot.com",
      );
      setEnv({ APPENGINE_DEFAULT_HOSTNAME: "my-app.ew.r.appspot.com", APPENGINE_REGION_ID: "uc" });
      expect(await detectTaskHandlerHost()).toBe("https://v2-dot-worker-dot-my-app.ew.r.appspot.com");
      process.env.GAE_SERVICE = "default";
      expect(await detectTaskHandlerHost()).toBe("https://v2-dot-my-app.ew.r.appspot.com");
    });

    it("without GAE_VERSION it routes to the service and says it is not pinned", async () => {
      await onAppEngine({ application: "s~my-app", service: "worker" });
      setEnv({ APPENGINE_REGION_ID: "uc" });
      expect(await detectTaskHandlerHost()).toBe("https://worker-dot-my-app.uc.r.appspot.com");
      expect((await describeEnvironment()).taskHandlerHost.note).toMatch(/not pinned/);
    });

    it("null with a reason when the label would exceed 63 characters or the input is unusable", async () => {
      await onAppEngine({ application: "s~a-rather-long-project-name-here", service: "background-worker", version: "20250101t120000" });
      expect(await detectTaskHandlerHost()).toBeNull();
      await expect(requireTaskHandlerHost()).rejects.toThrow(/over the 63/);
      expect(await detectTaskHandlerHost({ appEngineRegionId: "u.c" })).toBeNull();
      expect(await detectTaskHandlerHost({ appEngineHostname: "not a host" })).toBeNull();
    });

    it("null for a domain-scoped project unless the hostname is given", async () => {
      await onAppEngine({ application: "s~example.com:my-app", version: "v1" });
      expect(await detectGcpProject()).toBe("example.com:my-app");
      expect(await detectTaskHandlerHost()).toBeNull();
      await expect(requireTaskHandlerHost()).rejects.toThrow(/domain-scoped.*APPENGINE_DEFAULT_HOSTNAME/);
      expect(await detectTaskHandlerHost({ appEngineHostname: "my-app.example.com.appspot.com" })).toBe(
        "https://v1-dot-my-app.example.com.appspot.com",
      );
    });
  });

  describe("location", () => {
    it("comes from the metadata server's instance/region", async () => {
      await onAppEngine(
        { application: "e~sales", version: "v1" },
        { "project/project-id": "sales", "instance/region": "projects/99/regions/europe-west3", "instance/zone": "projects/99/zones/europe-west3-b" },
      );
      expect(await detectGcpLocation()).toBe("europe-west3");
      expect((await describeEnvironment()).location.source).toBe("metadata:instance/region");
    });

    it("falls back to the undocumented GAE_APPLICATION prefix only when nothing else answers", async () => {
      await onAppEngine({ application: "e~sales", version: "v1" });
      expect(await detectGcpLocation()).toBe("europe-west1");
      const described = await describeEnvironment();
      expect(described.location).toMatchObject({ value: "europe-west1", source: "hint:GAE_APPLICATION" });
      expect(described.location.note).toMatch(/undocumented/);
    });

    it("is null for a prefix that is not in the hint table", async () => {
      await onAppEngine({ application: "x~sales", version: "v1" });
      expect(await detectGcpLocation()).toBeNull();
    });

    it("CLOUD_TASKS_LOCATION beats everything", async () => {
      await onAppEngine({ application: "e~sales", version: "v1" }, { "instance/region": "projects/99/regions/europe-west3" });
      setEnv({ CLOUD_TASKS_LOCATION: "us-central1" });
      expect(await detectGcpLocation()).toBe("us-central1");
      expect(server!.hitsFor("instance/region")).toBe(0);
    });
  });
});
