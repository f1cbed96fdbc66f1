import { isAppEngine, isCloudRun } from "../detect/env.ts";
import { ConfigError } from "../errors.ts";

/**
 * Where the server runs, as far as its security rules are concerned. Decided
 * from the environment alone (no I/O), so it can be asked on every request.
 */

/** Running on Google's serverless platforms, behind their front ends. */
export function onGoogleServerless(): boolean {
  return isCloudRun() || isAppEngine();
}

/**
 * The production rules apply: NODE_ENV says "production" in any case
 * ("Production", " PRODUCTION "), or the server runs on Cloud Run or App
 * Engine, whatever NODE_ENV says: a deployment there is reachable from the
 * internet, so it must never be open the way a laptop may be.
 */
export function isProduction(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NODE_ENV?.trim().toLowerCase() === "production" || onGoogleServerless();
}

export const HOST_ENV = "HOST";
export const ALLOWED_HOSTS_ENV = "DATABASE_TASK_ALLOWED_HOSTS";
export const TRUST_PROXY_ENV = "DATABASE_TASK_TRUST_PROXY";

/**
 * The interface to listen on when none is given: `HOST` if set; every
 * interface in production (containers on Cloud Run, App Engine or elsewhere
 * must accept connections from outside); else loopback only, so a development
 * server on a laptop is not reachable from the network it sits on.
 */
export function defaultListenHost(env: NodeJS.ProcessEnv = process.env): string {
  const host = env[HOST_ENV]?.trim();
  if (host) return host;
  return isProduction(env) ? "0.0.0.0" : "127.0.0.1";
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** The host names (no port) requests may be addressed to in development, besides loopback ones. */
export function allowedHostsFromEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env[ALLOWED_HOSTS_ENV]?.trim();
  if (!raw) return [];
  return raw.split(",").map((host) => normalizeHostName(host.trim(), ALLOWED_HOSTS_ENV)).filter(Boolean);
}

export function normalizeHostName(host: string, where: string): string {
  if (host === "") return "";
  if (/[\s/@?#]/.test(host)) throw new ConfigError(`${where}: ${JSON.stringify(host)} is not a host name; give names such as "myhost.local" or "192.168.1.20".`);
  return host.toLowerCase().replace(/:\d+$/, "");
}

/** The host name a Host header names, without its port; null when there is none. */
export function hostNameOf(header: string | undefined): string | null {
  if (!header) return null;
  const host = header.trim().toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? null : host.slice(0, end + 1);
  }
  return host.replace(/:\d*$/, "");
}

/**
 * Whether a request addressed to `hostHeader` may be served by a development
 * server: loopback names, or one the user allowed. A page on
 * `rebind.attacker.example`, whose name the attacker re-points at 127.0.0.1
 * (DNS rebinding), sends its own name in Host and is refused.
 */
export function isAllowedDevelopmentHost(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  const name = hostNameOf(hostHeader);
  if (name === null) return false;
  return LOOPBACK_HOSTS.has(name) || allowed.includes(name);
}

/**
 * Express's `trust proxy` setting: what `DATABASE_TASK_TRUST_PROXY` says
 * (Express's syntax: a hop count, "true", "loopback", addresses), else one hop
 * on Cloud Run and App Engine, where Google's front end terminates TLS and
 * adds X-Forwarded-Proto and X-Forwarded-For (so `req.secure` is true for
 * HTTPS and admin cookies get `Secure`), else none.
 */
export function trustProxyFromEnvironment(env: NodeJS.ProcessEnv = process.env): boolean | number | string {
  const raw = env[TRUST_PROXY_ENV]?.trim();
  if (raw) {
    if (/^\d+$/.test(raw)) return Number(raw);
    if (raw === "true" || raw === "false") return raw === "true";
    return raw;
  }
  return onGoogleServerless() ? 1 : false;
}
