import { describe, expect, it } from "vitest";
import { createCloudTasksClient, parseEmulatorHost } from "../../src/cloudtasks/client.ts";
import { startEmulator } from "../../src/cloudtasks/emulator/index.ts";

describe("createCloudTasksClient", () => {
  it("parses emulator addresses", () => {
    expect(parseEmulatorHost("127.0.0.1:8123")).toEqual({ host: "127.0.0.1", port: 8123 });
    expect(parseEmulatorHost("localhost")).toEqual({ host: "localhost", port: 8123 });
    expect(parseEmulatorHost("[::1]:9000")).toEqual({ host: "::1", port: 9000 });
    expect(parseEmulatorHost("http://emulator:9001/")).toEqual({ host: "emulator", port: 9001 });
    expect(() => parseEmulatorHost("host:99999")).toThrow(/invalid port/);
    expect(() => parseEmulatorHost("a:b:c")).toThrow(/host:port/);
  });

  it("talks to the emulator named by CLOUD_TASKS_EMULATOR_HOST, without credentials", async () => {
    const emulator = await startEmulator();
    const client = createCloudTasksClient({ env: { CLOUD_TASKS_EMULATOR_HOST: emulator.grpcAddress } });
    try {
      const [queues] = await client.listQueues({ parent: "projects/p/locations/l" });
      expect(queues).toEqual([]);
    } finally {
      await client.close();
      await emulator.stop();
    }
  });

  it("is the default Google client when no emulator is configured", async () => {
    const client = createCloudTasksClient({ env: {} });
    try {
      expect(client.apiEndpoint).toBe("cloudtasks.googleapis.com");
    } finally {
      await client.close();
    }
  });
});
