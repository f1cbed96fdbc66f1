import type { RequestHandler } from "express";
import { OAuth2Client, type Certificates } from "google-auth-library";
import type { RequestAuthOutcome } from "../backends/backend.ts";
import { createConsoleLogger, type Logger } from "../log.ts";
import { decodeJwtHeader } from "./jwt.ts";
import { CertificateCache } from "./oidc-certs.ts";

/** The issuers Google writes into ID tokens it signs for service accounts. */
export const GOOGLE_ISSUERS: readonly string[] = ["accounts.google.com", "https://accounts.google.com"];
/** Google's signing certificates as a `{kid: PEM}` map (what google-auth-library fetches in Node). */
export const GOOGLE_PEM_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs";

export interface CloudTasksOidcOptions {
  /** Required: the `aud` the token must carry (the `audience` given to Cloud Tasks); several are allowed. */
  audience: string | readonly string[];
  /** Required: the service account Cloud Tasks signs the tokens as; the token's verified `email` must be it. */
  serviceAccountEmail: string;
  /**
   * Where the signing certificates come from. Default: Google's. Point it at a
   * local emulator's certificates (its `certsUrl`) only where that emulator is meant to be trusted.
   */
  certsUrl?: string;
  /** Issuers accepted in addition to Google's (e.g. an emulator started with its own issuer). */
  issuers?: readonly string[];
  /** Where verifyCloudTasksOidc logs why it refused a request (the caller is told only 401 or 403). Default: stderr. */
  logger?: Logger;
}

export const MISSING_HEADER_ERROR = "Missing or invalid Authorization header";

interface Verifier {
  client: OAuth2Client;
  certs: CertificateCache;
}

// One certificate cache per URL for the whole process, so that verifyCloudTasksToken can be called
// with plain options on every request and still fetch the certificates only when they expire.
const verifiers = new Map<string, Verifier>();

function verifierFor(certsUrl: string): Verifier {
  let verifier = verifiers.get(certsUrl);
  if (!verifier) {
    const client = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: certsUrl } });
    verifier = { client, certs: new CertificateCache(certsUrl, client) };
    verifiers.set(certsUrl, verifier);
  }
  return verifier;
}

function checkOptions(
  options: CloudTasksOidcOptions | undefined,
  caller: string,
): Required<Omit<CloudTasksOidcOptions, "audience" | "logger">> & { audience: string | string[]; allIssuers: string[] } {
  const audience = options?.audience;
  const audienceOk =
    (typeof audience === "string" && audience.trim() !== "") ||
    (Array.isArray(audience) && audience.length > 0 && audience.every((value) => typeof value === "string" && value.trim() !== ""));
  if (!audienceOk) {
    throw new TypeError(
      `${caller}: \`audience\` is required (the audience Cloud Tasks puts in the OIDC token, e.g. your handler URL's origin); without it every token would be refused or, worse, any token accepted.`,
    );
  }
  const email = options!.serviceAccountEmail;
  if (typeof email !== "string" || !/^[^@\s]+@[^@\s]+$/.test(email)) {
    throw new TypeError(`${caller}: \`serviceAccountEmail\` is required (the service account Cloud Tasks signs the OIDC tokens as).`);
  }
  const certsUrl = options!.certsUrl ?? GOOGLE_PEM_CERTS_URL;
  if (!/^https?:\/\//i.test(certsUrl) || !URL.canParse(certsUrl)) throw new TypeError(`${caller}: \`certsUrl\` must be an http(s) URL, got "${certsUrl}".`);
  const issuers = options!.issuers ?? [];
  if (!Array.isArray(issuers) || !issuers.every((issuer) => typeof issuer === "string" && issuer !== "")) {
    throw new TypeError(`${caller}: \`issuers\` must be an array of issuer strings.`);
  }
  return { audience: typeof audience === "string" ? audience : [...audience!], serviceAccountEmail: email, certsUrl, issuers, allIssuers: [...GOOGLE_ISSUERS, ...issuers] };
}

function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(header ?? "")?.[1];
}

/**
 * google-auth-library's messages may carry the whole token or payload after a
 * colon; the answer keeps only the reason in front of it.
 */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split(": ")[0] || "verification failed";
}

async function verify(header: string | undefined, options: ReturnType<typeof checkOptions>): Promise<RequestAuthOutcome> {
  const token = bearerToken(header);
  if (!token) return { ok: false, status: 401, error: MISSING_HEADER_ERROR };
  const envelope = decodeJwtHeader(token);
  // Google signs ID tokens with RS256; nothing else is taken, whatever the header asks for.
  if (envelope && envelope.alg !== "RS256") return { ok: false, status: 401, error: "Invalid token: unsupported signing algorithm" };
  const { client, certs } = verifierFor(options.certsUrl);
  let payload: Record<string, unknown>;
  try {
    const keys = await certs.get(typeof envelope?.kid === "string" ? envelope.kid : undefined);
    // google-auth-library makes every check (signature, iat/exp with its clock skew and maximum lifetime, issuer, audience).
    // Its Node verifier hands the key to crypto's Verify.verify(), which takes a KeyObject as well as a PEM: given the
    // KeyObjects parsed once per certificate fetch, it no longer parses a certificate per request.
    const ticket = await client.verifySignedJwtWithCertsAsync(token, keys as unknown as Certificates, options.audience, options.allIssuers);
    payload = (ticket.getPayload() ?? {}) as Record<string, unknown>;
  } catch (error) {
    return { ok: false, status: 401, error: `Invalid token: ${reason(error)}` };
  }
  const email = typeof payload.email === "string" ? payload.email : "";
  if (email.toLowerCase() !== options.serviceAccountEmail.toLowerCase()) {
    return { ok: false, status: 403, error: "Token email does not match the expected service account" };
  }
  if (payload.email_verified !== true && payload.email_verified !== "true") {
    return { ok: false, status: 403, error: "Token email is not verified" };
  }
  return { ok: true, claims: payload };
}

/**
 * Verifies the `Authorization: Bearer <OIDC token>` Cloud Tasks sends:
 * signature (against `certsUrl`, cached), issuer, audience, expiry, then that
 * the token is the configured service account's with a verified email.
 * Bad or missing tokens: 401; a valid token of another account: 403.
 * Misconfiguration (no audience or service account) rejects with a TypeError.
 */
export async function verifyCloudTasksToken(authorizationHeader: string | undefined, options: CloudTasksOidcOptions): Promise<RequestAuthOutcome> {
  return verify(authorizationHeader, checkOptions(options, "verifyCloudTasksToken"));
}

/**
 * Wraps an Express handler so it runs only for requests carrying a valid Cloud
 * Tasks OIDC token; others get 401 `{"error": "Missing or invalid Authorization header"}`
 * or 403 `{"error": "Forbidden"}`, the reason going to `logger` at warn. Not
 * throttled: Cloud Tasks delivers from Google's shared addresses, so counting
 * failures per address would let anyone's bad tokens hold back our deliveries,
 * and a forged token cannot be guessed into a valid signature anyway.
 * The verified claims are in `res.locals.cloudTasksClaims`.
 * Throws at once when the options are incomplete.
 */
export function verifyCloudTasksOidc(handler: RequestHandler, options: CloudTasksOidcOptions): RequestHandler {
  if (typeof handler !== "function") throw new TypeError("verifyCloudTasksOidc: the first argument must be an Express request handler.");
  const checked = checkOptions(options, "verifyCloudTasksOidc");
  let logger = options.logger ?? null;
  return async (request, response, next) => {
    const outcome = await verify(request.headers.authorization, checked);
    if (!outcome.ok) {
      (logger ??= createConsoleLogger()).warn("Cloud Tasks OIDC check refused a request", { status: outcome.status, client: request.ip ?? request.socket.remoteAddress, reason: outcome.error });
      if (outcome.status === 401) response.set("WWW-Authenticate", 'Bearer error="invalid_token"');
      response.status(outcome.status).json({ error: outcome.status === 401 ? MISSING_HEADER_ERROR : "Forbidden" });
      return;
    }
    response.locals.cloudTasksClaims = outcome.claims;
    return handler(request, response, next);
  };
}
