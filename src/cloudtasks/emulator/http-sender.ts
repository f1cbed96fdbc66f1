import http from "node:http";
import https from "node:https";
import type { HttpMethod } from "./model.ts";

export interface OutgoingRequest {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
  /** HTTP targets follow 3xx within the same attempt; App Engine targets do not. */
  followRedirects: boolean;
}

export type SendResult =
  | { kind: "response"; status: number; retryAfterMs?: number }
  | { kind: "timeout" }
  | { kind: "error"; message: string };

type HopResult = SendResult | { kind: "redirect"; status: number; location: string };

interface Hop {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

function withoutHeader(headers: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([key]) => key.toLowerCase() !== name));
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Follows fetch's rules: 303 (and 301/302 after POST) turn into a GET without body; credentials stay on the same origin. */
function redirectHop(previous: Hop, status: number, location: string): Hop {
  const next = new URL(location, previous.url);
  let hop: Hop = { ...previous, url: next.href };
  if ((status === 303 && previous.method !== "HEAD") || ((status === 301 || status === 302) && previous.method === "POST")) {
    hop = { ...hop, method: "GET", body: undefined, headers: withoutHeader(previous.headers, "content-type") };
  }
  if (new URL(previous.url).origin !== next.origin) hop = { ...hop, headers: withoutHeader(hop.headers, "authorization") };
  return hop;
}

/**
 * Sends task requests. Each request gets its own connection (no keep-alive),
 * so a target that restarts between attempts never sees a stale socket, and
 * `close()` can cut every request still waiting.
 */
export class HttpSender {
  readonly #active = new Set<http.ClientRequest>();

  async send(request: OutgoingRequest): Promise<SendResult> {
    const deadline = Date.now() + request.timeoutMs;
    let hop: Hop = { method: request.method, url: request.url, headers: request.headers, body: request.body };
    for (let redirects = 0; ; redirects++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return { kind: "timeout" };
      const result = await this.#sendOnce(hop, remaining);
      if (result.kind !== "redirect") return result;
      if (!request.followRedirects || redirects >= MAX_REDIRECTS) return { kind: "response", status: result.status };
      hop = redirectHop(hop, result.status, result.location);
    }
  }

  /** Aborts every request still in flight; their attempts end with an error. */
  close(): void {
    for (const request of this.#active) request.destroy(new Error("Cloud Tasks emulator stopped"));
    this.#active.clear();
  }

  #sendOnce(hop: Hop, timeoutMs: number): Promise<HopResult> {
    return new Promise<HopResult>((resolve) => {
      let settled = false;
      let timedOut = false;
      const url = new URL(hop.url);
      const headers = withoutHeader(hop.headers, "content-length");
      if (hop.body) headers["Content-Length"] = String(hop.body.length);
      const client = (url.protocol === "https:" ? https : http).request(url, { method: hop.method, headers, agent: false });
      const finish = (result: HopResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#active.delete(client);
        resolve(result);
      };
      const failure = (error?: Error): HopResult => (timedOut ? { kind: "timeout" } : { kind: "error", message: error?.message ?? "connection closed" });
      const timer = setTimeout(() => {
        timedOut = true;
        client.destroy(new Error("dispatch deadline exceeded"));
      }, timeoutMs);
      this.#active.add(client);
      client.on("error", (error) => finish(failure(error)));
      client.on("response", (response) => {
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        const retryAfterMs = parseRetryAfter(response.headers["retry-after"]);
        // The body is not needed, but the attempt lasts until it has been read, as a real client's would.
        response.resume();
        response.on("error", (error) => finish(failure(error)));
        response.on("end", () => {
          if (REDIRECT_STATUSES.has(status) && location) finish({ kind: "redirect", status, location });
          else finish({ kind: "response", status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
        });
        response.on("close", () => finish(failure(new Error("connection closed before the response ended"))));
      });
      client.end(hop.body);
    });
  }
}
