import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import { OAuth2Client } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startEmulator, type RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { MISSING_HEADER_ERROR, verifyCloudTasksOidc, verifyCloudTasksToken } from "../../src/cloudtasks/oidc.ts";
import { MAX_FAILURES } from "../../src/http/throttle.ts";
import { recordingLogger } from "../http/helpers.ts";
import { clientFor, foreignKey, signToken, startTarget, uniqueQueueId } from "./helpers.ts";

const SERVICE_ACCOUNT = "tasks-invoker@demo-project.iam.gserviceaccount.com";
const AUDIENCE = "https://handler.example.com";

let emulator: RunningEmulator;
let options: { audience: string; serviceAccountEmail: string; certsUrl: string };
const bearer = (token: string) => `Bearer ${token}`;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  emulator = await startEmulator();
  options = { audience: AUDIENCE, serviceAccountEmail: SERVICE_ACCOUNT, certsUrl: emulator.certsUrl };
});

afterAll(async () => {
  await emulator?.stop();
});

function emulatorToken(claims: Record<string, unknown> = {}, audience = AUDIENCE, email = SERVICE_ACCOUNT): string {
  return emulator.signIdToken({ serviceAccountEmail: email, audience, claims });
}

describe("verifyCloudTasksToken", () => {
  it("accepts a token the emulator signed, with the claims Google puts in service account ID tokens", async () => {
    const outcome = await verifyCloudTasksToken(bearer(emulatorToken()), options);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.claims).toMatchObject({ iss: "https://accounts.google.com", aud: AUDIENCE, email: SERVICE_ACCOUNT, email_verified: true });
    const claims = outcome.claims!;
    expect(claims.exp as number).toBe((claims.iat as number) + 3600);
    expect(claims.sub).toMatch(/^\d{21}$/);
    expect(claims.azp).toBe(claims.sub);
  });

  it("is compatible with google-auth-library's own OAuth2Client.verifyIdToken", async () => {
    const client = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: emulator.certsUrl } });
    const ticket = await client.verifyIdToken({ idToken: emulatorToken(), audience: AUDIENCE });
    expect(ticket.getPayload()?.email).toBe(SERVICE_ACCOUNT);
  });

  it("refuses a token signed by another key (forged signature) with 401", async () => {
    const forged = signToken(foreignKey().privateKey, emulator.kid, {
      iss: "https://accounts.google.com", aud: AUDIENCE, email: SERVICE_ACCOUNT, email_verified: true, iat: now(), exp: now() + 3600, sub: "1",
    });
    expect(await verifyCloudTasksToken(bearer(forged), options)).toEqual({ ok: false, status: 401, error: "Invalid token: Invalid token signature" });
  });

  it("refuses a token whose key id is unknown", async () => {
    const { privateKey, kid } = foreignKey();
    const token = signToken(privateKey, kid, { iss: "https://accounts.google.com", aud: AUDIENCE, email: SERVICE_ACCOUNT, email_verified: true, iat: now(), exp: now() + 3600 });
    const outcome = await verifyCloudTasksToken(bearer(token), options);
    expect(outcome).toMatchObject({ ok: false, status: 401 });
    expect(!outcome.ok && outcome.error).toBe("Invalid token: No pem found for envelope");
  });

  it("refuses a wrong audience, a wrong issuer and an expired token with 401", async () => {
    const wrongAudience = await verifyCloudTasksToken(bearer(emulatorToken({}, "https://other.example.com")), options);
    expect(wrongAudience).toMatchObject({ ok: false, status: 401, error: "Invalid token: Wrong recipient, payload audience != requiredAudience" });

    const wrongIssuer = await verifyCloudTasksToken(bearer(emulatorToken({ iss: "https://issuer.example.com" })), options);
    expect(wrongIssuer).toMatchObject({ ok: false, status: 401 });
    expect(!wrongIssuer.ok && wrongIssuer.error).toMatch(/^Invalid token: Invalid issuer/);

    const expired = await verifyCloudTasksToken(bearer(emulatorToken({ iat: now() - 7200, exp: now() - 3600 })), options);
    expect(expired).toMatchObject({ ok: false, status: 401 });
    expect(!expired.ok && expired.error).toMatch(/^Invalid token: Token used too late/);
    // The reason never echoes the token or its payload back.
    expect(!expired.ok && expired.error).not.toContain("{");
  });

  it("refuses a valid token of another account, or with an unverified email, with 403", async () => {
    const otherAccount = await verifyCloudTasksToken(bearer(emulatorToken({}, AUDIENCE, "someone-else@demo-project.iam.gserviceaccount.com")), options);
    expect(otherAccount).toEqual({ ok: false, status: 403, error: "Token email does not match the expected service account" });
    const unverified = await verifyCloudTasksToken(bearer(emulatorToken({ email_verified: false })), options);
    expect(unverified).toEqual({ ok: false, status: 403, error: "Token email is not verified" });
  });

  it("refuses missing and malformed Authorization headers with 401", async () => {
    for (const header of [undefined, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer  ", `Token ${emulatorToken()}`]) {
      expect(await verifyCloudTasksToken(header, options)).toEqual({ ok: false, status: 401, error: MISSING_HEADER_ERROR });
    }
    const notAJwt = await verifyCloudTasksToken("Bearer not-a-jwt", options);
    expect(notAJwt).toMatchObject({ ok: false, status: 401 });
    expect(!notAJwt.ok && notAJwt.error).toMatch(/^Invalid token: /);
    const [header, payload] = emulatorToken().split(".");
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", kid: emulator.kid })).toString("base64url")}.${payload}.`;
    expect(await verifyCloudTasksToken(bearer(unsigned), options)).toMatchObject({ ok: false, status: 401 });
    expect(await verifyCloudTasksToken(bearer(`${header}.${payload}.AAAA`), options)).toMatchObject({ ok: false, status: 401 });
  });

  it("accepts extra issuers only when configured", async () => {
    const custom = await startEmulator({ issuer: "http://cloud-tasks-emulator" });
    try {
      const token = custom.signIdToken({ serviceAccountEmail: SERVICE_ACCOUNT, audience: AUDIENCE });
      const base = { ...options, certsUrl: custom.certsUrl };
      expect(await verifyCloudTasksToken(bearer(token), base)).toMatchObject({ ok: false, status: 401 });
      expect(await verifyCloudTasksToken(bearer(token), { ...base, issuers: ["http://cloud-tasks-emulator"] })).toMatchObject({ ok: true });
    } finally {
      await custom.stop();
    }
  });

  it("never runs without an audience or a service account", async () => {
    await expect(verifyCloudTasksToken(bearer(emulatorToken()), { ...options, audience: "" })).rejects.toThrow(/audience/);
    await expect(verifyCloudTasksToken(bearer(emulatorToken()), { ...options, audience: [] })).rejects.toThrow(/audience/);
    await expect(verifyCloudTasksToken(bearer(emulatorToken()), { ...options, serviceAccountEmail: "" })).rejects.toThrow(/serviceAccountEmail/);
  });
});

describe("certificate caching", () => {
  let hits = 0;
  let withMaxAge = true;
  let certsServer: http.Server;
  let certsUrl: string;
  const key = foreignKey();

  beforeAll(async () => {
    const pem = createPublicKey(key.privateKey).export({ type: "spki", format: "pem" }).toString();
    certsServer = http.createServer((_, response) => {
      hits++;
      response.writeHead(200, { "Content-Type": "application/json", ...(withMaxAge ? { "Cache-Control": "public, max-age=600" } : {}) });
      response.end(JSON.stringify({ [key.kid]: pem }));
    });
    await new Promise<void>((resolve) => certsServer.listen(0, "127.0.0.1", resolve));
    certsUrl = `http://127.0.0.1:${(certsServer.address() as AddressInfo).port}/certs`;
  });

  afterAll(async () => {
    await new Promise((resolve) => certsServer.close(resolve));
  });

  const token = () =>
    signToken(key.privateKey, key.kid, { iss: "accounts.google.com", aud: AUDIENCE, email: SERVICE_ACCOUNT, email_verified: true, iat: now(), exp: now() + 3600 });

  it("fetches the certificates once, however many requests (also concurrent ones) are verified", async () => {
    hits = 0;
    const opts = { audience: AUDIENCE, serviceAccountEmail: SERVICE_ACCOUNT, certsUrl };
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => verifyCloudTasksToken(bearer(token()), opts)));
    expect(concurrent.every((outcome) => outcome.ok)).toBe(true);
    for (let i = 0; i < 5; i++) expect((await verifyCloudTasksToken(bearer(token()), opts)).ok).toBe(true);
    expect(hits).toBe(1);
  });

  it("also caches certificates served without max-age", async () => {
    hits = 0;
    withMaxAge = false;
    const opts = { audience: AUDIENCE, serviceAccountEmail: SERVICE_ACCOUNT, certsUrl: `${certsUrl}?no-max-age` };
    for (let i = 0; i < 3; i++) expect((await verifyCloudTasksToken(bearer(token()), opts)).ok).toBe(true);
    expect(hits).toBe(1);
  });

  it("does not trust the emulator's key just because CLOUD_TASKS_EMULATOR_HOST is set", async () => {
    const previous = process.env.CLOUD_TASKS_EMULATOR_HOST;
    process.env.CLOUD_TASKS_EMULATOR_HOST = emulator.grpcAddress;
    try {
      const outcome = await verifyCloudTasksToken(bearer(emulatorToken()), { audience: AUDIENCE, serviceAccountEmail: SERVICE_ACCOUNT, certsUrl });
      expect(outcome).toMatchObject({ ok: false, status: 401 });
    } finally {
      if (previous === undefined) delete process.env.CLOUD_TASKS_EMULATOR_HOST;
      else process.env.CLOUD_TASKS_EMULATOR_HOST = previous;
    }
  });
});

/** An app with its own verifyCloudTasksOidc middleware (so its own throttle) in front of a handler recording what ran. */
async function startOidcApp(logger = recordingLogger()) {
  const executed: string[] = [];
  const router = express();
  router.post(
    "/tasks/execute/:id/",
    verifyCloudTasksOidc((request, response) => {
      executed.push(String(request.params.id));
      response.json({ executed: true, email: response.locals.cloudTasksClaims.email });
    }, { audience: AUDIENCE, serviceAccountEmail: SERVICE_ACCOUNT, certsUrl: emulator.certsUrl, logger }),
  );
  const app = router.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => app.once("listening", () => resolve()));
  const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const post = (id: string, authorization?: string) =>
    fetch(`${url}/tasks/execute/${id}/`, { method: "POST", headers: authorization ? { Authorization: authorization } : {} });
  const close = () =>
    new Promise<void>((resolve) => {
      app.close(() => resolve());
      app.closeAllConnections();
    });
  return { url, executed, logger, post, close };
}

describe("verifyCloudTasksOidc middleware", () => {
  let executed: string[];
  let appUrl: string;
  let logger: ReturnType<typeof recordingLogger>;
  let post: (id: string, authorization?: string) => Promise<Response>;
  let closeApp: () => Promise<void>;

  beforeAll(async () => {
    ({ executed, url: appUrl, logger, post, close: closeApp } = await startOidcApp());
  });

  afterAll(() => closeApp());

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("throws at wrap time when the audience or service account is missing", () => {
    const handler = () => {};
    expect(() => verifyCloudTasksOidc(handler, { audience: undefined as unknown as string, serviceAccountEmail: SERVICE_ACCOUNT })).toThrow(/audience.*required/);
    expect(() => verifyCloudTasksOidc(handler, { audience: AUDIENCE } as never)).toThrow(/serviceAccountEmail/);
  });

  it("runs the handler for a valid token and answers a generic 401/403 JSON without running it otherwise, logging the reason", async () => {
    const ok = await post("a1", bearer(emulatorToken()));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ executed: true, email: SERVICE_ACCOUNT });

    const missing = await post("a2");
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: MISSING_HEADER_ERROR });
    const forgedToken = signToken(foreignKey().privateKey, emulator.kid, { aud: AUDIENCE });
    const forged = await post("a3", bearer(forgedToken));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ error: MISSING_HEADER_ERROR });
    const wrongAccount = await post("a4", bearer(emulatorToken({}, AUDIENCE, "intruder@demo-project.iam.gserviceaccount.com")));
    expect(wrongAccount.status).toBe(403);
    expect(await wrongAccount.json()).toEqual({ error: "Forbidden" });
    expect(executed).toEqual(["a1"]);
    expect(logger.lines.map((line) => [line.level, line.meta?.status, line.meta?.reason])).toEqual([
      ["warn", 401, MISSING_HEADER_ERROR],
      ["warn", 401, "Invalid token: Invalid token signature"],
      ["warn", 403, "Token email does not match the expected service account"],
    ]);
    expect(JSON.stringify(logger.lines)).not.toContain(forgedToken);
  });

  it("does not throttle refused tokens: a valid one from the same address still gets through (Cloud Tasks shares addresses)", async () => {
    const own = await startOidcApp();
    try {
      for (let i = 0; i < MAX_FAILURES + 2; i++) expect((await own.post(`f${i}`, bearer(emulatorToken({}, "https://other.example.com")))).status).toBe(401);
      expect((await own.post("valid", bearer(emulatorToken()))).status).toBe(200);
      expect(own.executed).toEqual(["valid"]);
      expect(own.logger.lines).toHaveLength(MAX_FAILURES + 2);
    } finally {
      await own.close();
    }
  });

  it("accepts what the emulator sends for a task with an OIDC token, end to end", async () => {
    const client = clientFor(emulator);
    try {
      const queue = client.queuePath("demo-project", "us-central1", uniqueQueueId("oidc"));
      const [task] = await client.createTask({
        parent: queue,
        task: { httpRequest: { url: `${appUrl}/tasks/execute/e2e/`, oidcToken: { serviceAccountEmail: SERVICE_ACCOUNT, audience: AUDIENCE } } },
      });
      expect(await emulator.waitForTask(task.name!, { timeoutMs: 5000 })).toMatchObject({ outcome: "succeeded", dispatchCount: 1 });
      expect(executed).toContain("e2e");
    } finally {
      await client.close();
    }
  });

  it("uses the task URL as the default audience, as Cloud Tasks does", async () => {
    const target = await startTarget();
    const client = clientFor(emulator);
    try {
      const url = `${target.url}/handler?x=1`;
      const queue = client.queuePath("demo-project", "us-central1", uniqueQueueId("aud"));
      const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url, oidcToken: { serviceAccountEmail: SERVICE_ACCOUNT } } } });
      await emulator.waitForTask(task.name!);
      const header = target.requests[0].headers.authorization;
      expect(await verifyCloudTasksToken(header, { ...options, audience: url })).toMatchObject({ ok: true });
      expect(await verifyCloudTasksToken(header, options)).toMatchObject({ ok: false, status: 401 });
    } finally {
      await client.close();
      await target.close();
    }
  });
});

describe("signing key file", () => {
  it("is created when missing and reused on the next start, so the key id stays the same", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "emulator-key-"));
    try {
      const file = path.join(dir, "key.pem");
      const first = await startEmulator({ signingKeyFile: file, createSigningKeyFile: true });
      await first.stop();
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const second = await startEmulator({ signingKeyFile: file });
      await second.stop();
      expect(second.kid).toBe(first.kid);
      await expect(startEmulator({ signingKeyFile: path.join(dir, "absent.pem") })).rejects.toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("verification keys (parsed once per certificate fetch)", () => {
  let hits = 0;
  /** What the certificates server publishes; tests replace it to rotate keys. */
  let served: Record<string, string> = {};
  let maxAge = 600;
  let certsServer: http.Server;
  let baseUrl: string;
  const spki = (key: ReturnType<typeof foreignKey>["privateKey"]) => createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
  const claims = () => ({ iss: "https://accounts.google.com", aud: AUDIENCE, email: SERVICE_ACCOUNT, email_verified: true, iat: now(), exp: now() + 3600 });
  let urls = 0;
  /** A URL of its own per test: the certificate cache is per URL for the whole process. */
  const freshOptions = () => ({ audience: AUDIENCE, serviceAccountEmail: SERVICE_ACCOUNT, certsUrl: `${baseUrl}/certs?test=${++urls}` });

  beforeAll(async () => {
    certsServer = http.createServer((_, response) => {
      hits++;
      response.writeHead(200, { "Content-Type": "application/json", "Cache-Control": `public, max-age=${maxAge}` });
      response.end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => certsServer.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(certsServer.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => certsServer.close(resolve));
  });

  afterEach(() => {
    vi.useRealTimers();
    maxAge = 600;
  });

  it("picks up a rotated key under a new kid, and refuses the dropped key's tokens after the refresh", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const oldKey = foreignKey().privateKey;
    const newKey = foreignKey().privateKey;
    served = { "key-1": spki(oldKey) };
    hits = 0;
    const opts = freshOptions();
    expect(await verifyCloudTasksToken(bearer(signToken(oldKey, "key-1", claims())), opts)).toMatchObject({ ok: true });

    served = { "key-2": spki(newKey) }; // Google rotates: a new kid, the old one dropped
    // Right after a fetch an unknown kid is refused without asking again (at most one look every 30 s)...
    expect(await verifyCloudTasksToken(bearer(signToken(newKey, "key-2", claims())), opts)).toEqual({ ok: false, status: 401, error: "Invalid token: No pem found for envelope" });
    expect(hits).toBe(1);
    // ...later the unknown kid makes it fetch the certificates again, well before they expire.
    vi.setSystemTime(Date.now() + 31_000);
    expect(await verifyCloudTasksToken(bearer(signToken(newKey, "key-2", claims())), opts)).toMatchObject({ ok: true });
    expect(hits).toBe(2);
    expect(await verifyCloudTasksToken(bearer(signToken(oldKey, "key-1", claims())), opts)).toEqual({ ok: false, status: 401, error: "Invalid token: No pem found for envelope" });
    expect(await verifyCloudTasksToken(bearer(signToken(newKey, "key-2", claims())), opts)).toMatchObject({ ok: true });
    expect(hits).toBe(2);
  });

  it("fetches once for a kid it does not know, not once per request", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const key = foreignKey().privateKey;
    const stranger = foreignKey().privateKey;
    served = { known: spki(key) };
    hits = 0;
    const opts = freshOptions();
    expect(await verifyCloudTasksToken(bearer(signToken(key, "known", claims())), opts)).toMatchObject({ ok: true });
    vi.setSystemTime(Date.now() + 31_000);
    const unknown = () => verifyCloudTasksToken(bearer(signToken(stranger, "unknown", claims())), opts);
    const concurrent = await Promise.all(Array.from({ length: 10 }, unknown));
    for (let i = 0; i < 10; i++) concurrent.push(await unknown());
    expect(concurrent.every((outcome) => !outcome.ok && outcome.status === 401 && outcome.error === "Invalid token: No pem found for envelope")).toBe(true);
    expect(hits).toBe(2);
    // The known key still verifies from the cache.
    expect(await verifyCloudTasksToken(bearer(signToken(key, "known", claims())), opts)).toMatchObject({ ok: true });
    expect(hits).toBe(2);
  });

  it("drops the parsed key when the certificates change under the same kid", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    maxAge = 60;
    const first = foreignKey().privateKey;
    const second = foreignKey().privateKey;
    served = { same: spki(first) };
    hits = 0;
    const opts = freshOptions();
    expect(await verifyCloudTasksToken(bearer(signToken(first, "same", claims())), opts)).toMatchObject({ ok: true });
    served = { same: spki(second) };
    // Cached (max-age 60 s): still the first key.
    expect(await verifyCloudTasksToken(bearer(signToken(second, "same", claims())), opts)).toEqual({ ok: false, status: 401, error: "Invalid token: Invalid token signature" });
    vi.setSystemTime(Date.now() + 61_000);
    expect(await verifyCloudTasksToken(bearer(signToken(second, "same", claims())), opts)).toMatchObject({ ok: true });
    expect(await verifyCloudTasksToken(bearer(signToken(first, "same", claims())), opts)).toEqual({ ok: false, status: 401, error: "Invalid token: Invalid token signature" });
    expect(hits).toBe(2);
  });

  it("verifies against X.509 certificates, as Google publishes them, and refuses a kid whose PEM does not parse", async () => {
    const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
    const privateKey = createPrivateKey(fixture("x509-signer.key.pem"));
    served = { google: fixture("x509-signer.cert.pem"), broken: "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n" };
    const opts = freshOptions();
    expect(await verifyCloudTasksToken(bearer(signToken(privateKey, "google", claims())), opts)).toMatchObject({ ok: true });
    expect(await verifyCloudTasksToken(bearer(signToken(foreignKey().privateKey, "google", claims())), opts)).toEqual({ ok: false, status: 401, error: "Invalid token: Invalid token signature" });
    expect(await verifyCloudTasksToken(bearer(signToken(privateKey, "broken", claims())), opts)).toMatchObject({ ok: false, status: 401 });
  });
});
