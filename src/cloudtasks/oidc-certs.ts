import { createPublicKey, type KeyObject } from "node:crypto";
import type { OAuth2Client } from "google-auth-library";

/** Used when the certificates response carries no max-age: never fetch once per request. */
const DEFAULT_TTL_MS = 5 * 60 * 1000;
/** An unknown kid may mean the keys rotated (or a local emulator restarted); look again, but not more often than this. */
const UNKNOWN_KID_REFETCH_MS = 30 * 1000;

function maxAgeMs(cacheControl: string | null | undefined): number | undefined {
  const match = /max-age=(\d+)/i.exec(cacheControl ?? "");
  return match ? Number(match[1]) * 1000 : undefined;
}

/** The published keys by kid: parsed once per fetch (a PEM that does not parse stays a string, and fails where it is used). */
export type VerificationKeys = Record<string, KeyObject | string>;

/**
 * Parses each PEM (an X.509 certificate, as Google publishes, or an SPKI
 * public key, as the emulator does) into a KeyObject once, so that verifying
 * a token does not parse a certificate every time: that parsing, not the RSA
 * check, was most of the cost of a verification (about 3/4 with an X.509 certificate).
 */
function parseKeys(certs: Record<string, string>): VerificationKeys {
  const keys: VerificationKeys = Object.create(null);
  for (const [kid, pem] of Object.entries(certs)) {
    try {
      keys[kid] = createPublicKey(pem);
    } catch {
      keys[kid] = pem; // verified as before: refused with OpenSSL's reason
    }
  }
  return keys;
}

/**
 * The `{kid: PEM}` map published at one URL, cached for the response's
 * max-age, with its keys parsed once per fetch (so a rotation, which comes
 * with a new map, replaces them all). Concurrent requests share one fetch.
 */
export class CertificateCache {
  readonly #url: string;
  readonly #client: OAuth2Client;
  #certs: VerificationKeys | undefined;
  #expiresAt = 0;
  #fetchedAt = 0;
  #fetching: Promise<VerificationKeys> | undefined;

  constructor(url: string, client: OAuth2Client) {
    this.#url = url;
    this.#client = client;
  }

  /** The keys by kid; fetched again when expired, or when `kid` is not among them (at most every 30 s). */
  async get(kid: string | undefined): Promise<VerificationKeys> {
    const now = Date.now();
    const fresh = this.#certs !== undefined && now < this.#expiresAt;
    const kidMissing = kid !== undefined && this.#certs !== undefined && !Object.hasOwn(this.#certs, kid);
    if (fresh && !(kidMissing && now - this.#fetchedAt >= UNKNOWN_KID_REFETCH_MS)) return this.#certs!;
    this.#fetching ??= this.#fetch().finally(() => {
      this.#fetching = undefined;
    });
    return this.#fetching;
  }

  async #fetch(): Promise<VerificationKeys> {
    let response;
    try {
      // The OAuth2Client's transporter is the same HTTP stack google-auth-library uses for Google's certificates (proxy settings included).
      response = await this.#client.transporter.request<Record<string, string>>({
        url: this.#url,
        timeout: 10_000,
        retry: true,
        retryConfig: { retry: 2, noResponseRetries: 2, httpMethodsToRetry: ["GET"] },
      });
    } catch (error) {
      throw new Error(`Failed to retrieve verification certificates: ${error instanceof Error ? error.message : String(error)}`);
    }
    const certs = response.data;
    if (!certs || typeof certs !== "object" || Array.isArray(certs) || !Object.values(certs).every((pem) => typeof pem === "string")) {
      throw new Error(`Failed to retrieve verification certificates: ${this.#url} did not answer with a {kid: PEM} map`);
    }
    const keys = parseKeys(certs);
    const now = Date.now();
    this.#certs = keys;
    this.#fetchedAt = now;
    this.#expiresAt = now + (maxAgeMs(response.headers.get("cache-control")) ?? DEFAULT_TTL_MS);
    return keys;
  }
}
