import type { Request } from "express";
import { isProduction } from "../http/deployment.ts";
import { ConfigError } from "../errors.ts";

export interface AdminOptions {
  /** Decides whether a request may see and change tasks (your session or SSO check). Combined with the credentials below when both are set. */
  authorize?: (req: Request) => boolean | Promise<boolean>;
  /** HTTP Basic credentials; the browser asks for them. */
  basicAuth?: { username: string; password: string; realm?: string };
  /** A token expected as `Authorization: Bearer <token>` (for a proxy or a script that adds the header). */
  bearerToken?: string;
  /**
   * Serves the admin without any authorization, to loopback clients only.
   * Refused when NODE_ENV is "production".
   */
  insecureDevelopmentMode?: boolean;
  /**
   * Key for the CSRF tokens and the signed outcome messages. Set it (32+
   * random characters) when several processes serve the admin and only
   * `authorize` is configured; otherwise it is derived from the credentials
   * or, without any, random per process.
   */
  secret?: string;
  /** Other origins (`https://admin.example.com`) whose forms may post here, for a proxy that rewrites the Host header. */
  trustedOrigins?: string[];
  /** Rows per page, 1-500. Default 50. */
  pageSize?: number;
  /** IANA time zone the times are shown in. Default "UTC". */
  timeZone?: string;
  /** Shown in the header and the window title. Default "database-task". */
  title?: string;
}

export interface ResolvedOptions {
  authorize: ((req: Request) => boolean | Promise<boolean>) | null;
  basicAuth: { username: string; password: string; realm: string } | null;
  bearerToken: string | null;
  insecureDevelopmentMode: boolean;
  secret: string | null;
  trustedOrigins: string[];
  pageSize: number;
  timeZone: string;
  title: string;
}

const KNOWN = [
  "authorize",
  "basicAuth",
  "bearerToken",
  "insecureDevelopmentMode",
  "secret",
  "trustedOrigins",
  "pageSize",
  "timeZone",
  "title",
];

function nonEmptyString(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) throw new ConfigError(`adminRouter: ${field} must be a non-empty string.`);
  return value;
}

export function resolveOptions(options: AdminOptions | undefined): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw new ConfigError("adminRouter needs options with authorize, basicAuth or bearerToken (see docs/admin.md).");
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) throw new ConfigError(`adminRouter: unknown option "${key}"; known options: ${KNOWN.join(", ")}.`);
  }
  if (options.authorize !== undefined && typeof options.authorize !== "function") {
    throw new ConfigError("adminRouter: authorize must be a function (req) => boolean | Promise<boolean>.");
  }
  let basicAuth: ResolvedOptions["basicAuth"] = null;
  if (options.basicAuth !== undefined) {
    const { username, password, realm } = options.basicAuth ?? ({} as Record<string, unknown>);
    basicAuth = {
      username: nonEmptyString(username, "basicAuth.username"),
      password: nonEmptyString(password, "basicAuth.password"),
      realm: realm === undefined ? "database-task admin" : nonEmptyString(realm, "basicAuth.realm"),
    };
    // A colon cannot be told apart from the separator in the Basic header.
    if (basicAuth.username.includes(":")) throw new ConfigError("adminRouter: basicAuth.username cannot contain a colon.");
    if (/["\\\r\n]/.test(basicAuth.realm)) throw new ConfigError("adminRouter: basicAuth.realm cannot contain quotes, backslashes or line breaks.");
  }
  const bearerToken = options.bearerToken === undefined ? null : nonEmptyString(options.bearerToken, "bearerToken");
  const authorize = options.authorize ?? null;
  const insecureDevelopmentMode = options.insecureDevelopmentMode === true;
  if (!authorize && !basicAuth && !bearerToken) {
    if (!insecureDevelopmentMode) {
      throw new ConfigError(
        "adminRouter refuses to serve tasks without authorization: pass authorize, basicAuth or bearerToken " +
          "(or insecureDevelopmentMode: true on a local development machine).",
      );
    }
    if (isProduction()) {
      throw new ConfigError("adminRouter: insecureDevelopmentMode is refused when NODE_ENV is \"production\"; configure authorization.");
    }
  }
  const secret = options.secret === undefined ? null : nonEmptyString(options.secret, "secret");
  if (secret !== null && secret.length < 16) throw new ConfigError("adminRouter: secret must be at least 16 characters (32 random ones recommended).");
  const trustedOrigins = (options.trustedOrigins ?? []).map((origin, i) => {
    const text = nonEmptyString(origin, `trustedOrigins[${i}]`);
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new ConfigError(`adminRouter: trustedOrigins[${i}] is not a URL: ${JSON.stringify(text)}.`);
    }
    return parsed.origin;
  });
  const pageSize = options.pageSize ?? 50;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) {
    throw new ConfigError(`adminRouter: pageSize must be a whole number from 1 to 500; got ${JSON.stringify(options.pageSize)}.`);
  }
  const timeZone = options.timeZone ?? "UTC";
  try {
    new Intl.DateTimeFormat("en", { timeZone });
  } catch {
    throw new ConfigError(`adminRouter: timeZone ${JSON.stringify(timeZone)} is not a time zone this Node knows.`);
  }
  const title = options.title === undefined ? "database-task" : nonEmptyString(options.title, "title");
  return { authorize, basicAuth, bearerToken, insecureDevelopmentMode, secret, trustedOrigins, pageSize, timeZone, title };
}
