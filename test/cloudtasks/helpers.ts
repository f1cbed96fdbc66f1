import { generateKeyPairSync, type KeyObject } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { CloudTasksClient } from "@google-cloud/tasks";
import express from "express";
import { createCloudTasksClient } from "../../src/cloudtasks/client.ts";
import type { RunningEmulator } from "../../src/cloudtasks/emulator/index.ts";
import { signRs256Jwt } from "../../src/cloudtasks/jwt.ts";

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  receivedAt: number;
}

export type Reply = number | { status: number; headers?: Record<string, string>; delayMs?: number };

export interface Target {
  /** Base URL, without a trailing slash. */
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that records what it receives and answers as `reply` says. */
export async function startTarget(reply: (request: ReceivedRequest, index: number) => Reply = () => 200): Promise<Target> {
  const requests: ReceivedRequest[] = [];
  const app = express();
  app.use(express.raw({ type: () => true, limit: "5mb" }));
  app.use((req, res) => {
    const received: ReceivedRequest = {
      method: req.method,
      url: req.originalUrl,
      headers: req.headers,
      body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      receivedAt: Date.now(),
    };
    requests.push(received);
    const answer = reply(received, requests.length - 1);
    const { status, headers = {}, delayMs = 0 } = typeof answer === "number" ? { status: answer } : answer;
    const send = () => {
      if (!res.writableEnded && !res.destroyed) res.status(status).set(headers).send(`status ${status}`);
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Polls until `probe` returns something truthy; fails with `message` after the deadline. */
export async function waitFor<T>(probe: () => T | Promise<T>, options: { timeoutMs?: number; message?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${options.message ?? "condition"}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function clientFor(emulator: RunningEmulator): CloudTasksClient {
  return createCloudTasksClient({ emulatorHost: emulator.grpcAddress });
}

/** A queue path unique to one test, so tests in a file never see each other's tasks. */
let queueCounter = 0;
export function uniqueQueueId(prefix = "q"): string {
  queueCounter++;
  return `${prefix}-${process.pid}-${queueCounter}`;
}

/** Seconds as a google.protobuf.Duration. */
export function duration(seconds: number): { seconds: number; nanos: number } {
  const whole = Math.floor(seconds);
  return { seconds: whole, nanos: Math.round((seconds - whole) * 1e9) };
}

export function timestampMs(value: { seconds?: unknown; nanos?: unknown } | null | undefined): number {
  return Number(value?.seconds ?? 0) * 1000 + Number(value?.nanos ?? 0) / 1e6;
}

/** A key that is not the emulator's, to forge tokens with. */
export function foreignKey(): { privateKey: KeyObject; kid: string } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { privateKey, kid: "foreign-key" };
}

export function signToken(privateKey: KeyObject, kid: string, payload: Record<string, unknown>): string {
  return signRs256Jwt({ header: { kid }, payload }, privateKey);
}

/** The gRPC status code of a failed client call. */
export async function rpcCode(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (error) {
    const { code, details, message } = error as { code: number; details?: string; message: string };
    return { code, details: details ?? message };
  }
  throw new Error("expected the call to fail");
}
