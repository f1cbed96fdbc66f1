import { describe, expect, it } from "vitest";
import { gaeApplicationPrefix, projectFromGaeApplication, regionFromMetadataRegion, regionFromZone } from "../../src/detect/env.ts";
import { metadataText } from "../../src/detect/metadata.ts";
import { appEngineOrigin, cloudRunOrigin, normalizeHostname } from "../../src/detect/urls.ts";

describe("GAE_APPLICATION", () => {
  it.each([
    ["s~my-app", "my-app", "s"],
    ["e~sales", "sales", "e"],
    ["s~sales", "sales", "s"],
    ["s~s~x", "s~x", "s"],
    ["~sales", "~sales", null],
    ["sales", "sales", null],
  ])("%s -> project %s, prefix %s", (application, project, prefix) => {
    expect(projectFromGaeApplication(application)).toBe(project);
    expect(gaeApplicationPrefix(application)).toBe(prefix);
  });
});

describe("metadata region and zone", () => {
  it.each([
    ["projects/123/regions/us-central1", "us-central1"],
    ["europe-west1", "europe-west1"],
    ["projects/123/regions/northamerica-northeast2", "northamerica-northeast2"],
    ["projects/123/regions/", null],
    ["garbage value", null],
  ])("instance/region %s -> %s", (value, region) => {
    expect(regionFromMetadataRegion(value)).toBe(region);
  });

  it.each([
    ["projects/123/zones/us-central1-a", "us-central1"],
    ["europe-west3-c", "europe-west3"],
    ["projects/1/zones/me-central2-b", "me-central2"],
    ["projects/1/zones/us-central1", null],
    ["", null],
  ])("instance/zone %s -> %s", (value, region) => {
    expect(regionFromZone(value)).toBe(region);
  });
});

describe("metadata values as gcp-metadata returns them", () => {
  it("turns numbers and BigNumber-like objects into exact digit strings", () => {
    expect(metadataText(123456789012)).toBe("123456789012");
    expect(metadataText({ toFixed: () => "98765432109876543210" })).toBe("98765432109876543210");
    expect(metadataText(12345678901234567890)).toBeNull(); // already rounded: refuse rather than guess
    expect(metadataText(" my-proj\n")).toBe("my-proj");
    expect(metadataText(null)).toBeNull();
    expect(metadataText({})).toBeNull();
  });
});

describe("URL builders", () => {
  it("Cloud Run: SERVICE-PROJECT_NUMBER.REGION.run.app up to a 63-character label", () => {
    expect(cloudRunOrigin("api", "123", "us-central1")).toEqual({ origin: "https://api-123.us-central1.run.app", note: null });
    expect(cloudRunOrigin("a".repeat(59), "123", "us-central1").origin).toBe(`https://${"a".repeat(59)}-123.us-central1.run.app`);
    expect(cloudRunOrigin("a".repeat(60), "123", "us-central1").origin).toBeNull();
  });

  it("App Engine: every form", () => {
    const base = { project: "p", service: "default", version: "v1", hostname: null, regionId: null };
    expect(appEngineOrigin(base).origin).toBe("https://v1-dot-p.appspot.com");
    expect(appEngineOrigin({ ...base, regionId: "uc" }).origin).toBe("https://v1-dot-p.uc.r.appspot.com");
    expect(appEngineOrigin({ ...base, service: "w", regionId: "uc" }).origin).toBe("https://v1-dot-w-dot-p.uc.r.appspot.com");
    expect(appEngineOrigin({ ...base, service: "w", hostname: "p.ew.r.appspot.com", project: null }).origin).toBe(
      "https://v1-dot-w-dot-p.ew.r.appspot.com",
    );
    expect(appEngineOrigin({ ...base, project: null }).origin).toBeNull();
  });

  it("normalises pasted hostnames and rejects what is not one", () => {
    expect(normalizeHostname("HTTPS://My-App.uc.r.appspot.com//")).toBe("my-app.uc.r.appspot.com");
    expect(normalizeHostname("my app.appspot.com")).toBeNull();
    expect(normalizeHostname("localhost")).toBeNull();
    expect(normalizeHostname("-x.appspot.com")).toBeNull();
  });
});
