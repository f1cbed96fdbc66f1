/** A real HTTP server around the admin router, and a client that keeps cookies the way a browser would. */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import { adminRouter, type AdminOptions } from "../../src/admin/index.ts";

export interface AdminServer {
  /** The admin's own URL, e.g. http://127.0.0.1:41234/admin */
  url: string;
  origin: string;
  close(): Promise<void>;
}

export async function startAdmin(options: AdminOptions, mountPath = "/admin"): Promise<AdminServer> {
  const app = express();
  app.use(mountPath, adminRouter(options));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}${mountPath === "/" ? "" : mountPath}`,
    origin,
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

/** Sends what a same-origin form post from Chromium sends, unless the test overrides it. */
export class Client {
  readonly cookies = new Map<string, string>();
  readonly headers: Record<string, string>;
  constructor(headers: Record<string, string> = {}) {
    this.headers = headers;
  }

  #remember(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(url, { redirect: "manual", headers: { ...this.headers, cookie: this.cookieHeader, ...headers } });
    this.#remember(response);
    return response;
  }

  async post(url: string, form: Array<[string, string]>, headers: Record<string, string> = {}): Promise<Response> {
    const origin = new URL(url).origin;
    const response = await fetch(url, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin,
        "sec-fetch-site": "same-origin",
        ...this.headers,
        cookie: this.cookieHeader,
        ...headers,
      },
      body: new URLSearchParams(form).toString(),
    });
    this.#remember(response);
    return response;
  }
}

export function csrfTokenIn(page: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error("no CSRF token on the page");
  return match[1];
}

/** The outcome message shown on a page, unescaped. */
export function flashIn(page: string): string | null {
  const match = /<div class="flash flash-(\w+)" role="status">([^<]*)<\/div>/.exec(page);
  if (!match) return null;
  return match[2].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

export function flashLevelIn(page: string): string | null {
  return /<div class="flash flash-(\w+)"/.exec(page)?.[1] ?? null;
}

/** Ids of the rows on a list page, in order. */
export function rowIdsIn(page: string): string[] {
  return [...page.matchAll(/<input type="checkbox" name="ids" value="([0-9a-f-]{36})"/g)].map((m) => m[1]);
}

export function linkIn(page: string, label: string): string | null {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`<a class="button" href="([^"]+)"(?: rel="\\w+")?>${escaped}</a>`).exec(page);
  return match ? match[1].replace(/&amp;/g, "&") : null;
}

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };
