import { describe, expect, it } from "vitest";
import { createCloudTasksClient } from "../../src/cloudtasks/client.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { waitFor } from "./helpers.ts";

describe("database-task emulator", () => {
  it("prints its addresses, serves gRPC and certificates, and exits 0 on SIGTERM", async () => {
    const child = startCli(["emulator", "--port", "0", "--quiet"]);
    let stdout = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    try {
      const address = await waitFor(() => /CLOUD_TASKS_EMULATOR_HOST=(\S+)/.exec(stdout)?.[1], { timeoutMs: 15_000, message: "emulator banner" });
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      const certsUrl = /OIDC signing certificates: (\S+)/.exec(stdout)![1];
      expect(certsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oauth2\/v1\/certs$/);

      const certs = await fetch(certsUrl);
      expect(certs.headers.get("cache-control")).toMatch(/max-age=\d+/);
      const pems = (await certs.json()) as Record<string, string>;
      expect(Object.values(pems)[0]).toContain("BEGIN PUBLIC KEY");
      const jwks = (await (await fetch(certsUrl.replace("/v1/", "/v3/"))).json()) as { keys: { kid: string }[] };
      expect(jwks.keys.map((k) => k.kid)).toEqual(Object.keys(pems));

      const client = createCloudTasksClient({ env: { CLOUD_TASKS_EMULATOR_HOST: address } });
      try {
        const [queue] = await client.createQueue({ parent: "projects/p/locations/l", queue: { name: "projects/p/locations/l/queues/from-cli" } });
        expect(queue.state).toBe("RUNNING");
      } finally {
        await client.close();
      }
    } finally {
      child.kill("SIGTERM");
    }
    const result = await child.result;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("SIGTERM");
  });

  it("exits 2 with one line for bad options", async () => {
    for (const args of [["--port", "70000"], ["--bogus"], ["--port", "9000", "--certs-port", "9000"], ["--app-engine-host", "not a url"]]) {
      const result = await runCli(["emulator", ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr.trim().split("\n")[0]).toMatch(/^error: /);
      expect(result.stdout).toBe("");
    }
  });

  it("exits 1 with a message when the port is taken", async () => {
    const first = startCli(["emulator", "--port", "0", "--quiet"]);
    let stdout = "";
    first.stdout!.on("data", (chunk) => (stdout += chunk));
    try {
      const address = await waitFor(() => /CLOUD_TASKS_EMULATOR_HOST=(\S+)/.exec(stdout)?.[1], { timeoutMs: 15_000 });
      const port = address.split(":").at(-1)!;
      const second = await runCli(["emulator", "--port", port, "--certs-port", "0"]);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/error: Cannot listen/);
    } finally {
      first.kill("SIGTERM");
      await first.result;
    }
  });
});
