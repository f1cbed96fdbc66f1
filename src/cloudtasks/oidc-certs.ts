import type { OAuth2Client } from "google-auth-library";

/** Used when the certificates response carries no max-age: never fetch once per request. */
const DEFAULT_TTL_MS = 5 * 60 * 1000;
/** An unknown kid may mean the keys rotated (or a local emulator restarted); look again, but not more often than this. */
const UNKNOWN_KID_REFETCH_MS = 30 * 1000;

function maxAgeMs(cacheControl: string | null | undefined): number | undefined {
  const match = /max-age=(\d+)/i.exec(cacheControl ?? "");
  return match ? Number(match[1]) * 1000 : undefined;
}

/**
 * The `{kid: PEM}` map published at one URL, cached for the response's
 * max-age. Concurrent requests share one fetch.
 */
export class CertificateCache {
  readonly #url: string;
  readonly #client: OAuth2Client;
  #certs: Record<string, string> | undefined;
  #expiresAt = 0;
  #fetchedAt = 0;
  #fetching: Promise<Record<string, string>> | undefined;

  constructor(url: string, client: OAuth2Client) {
    this.#url = url;
    this.#client = client;
  }

  async get(kid: string | undefined): Promise<Record<string, string>> {
    const now = Date.now();
    const fresh = this.#certs !== undefined && now < this.#expiresAt;
    const kidMissing = kid !== undefined && this.#certs !== undefined && !Object.hasOwn(this.#certs, kid);
    if (fresh && !(kidMissing && now - this.#fetchedAt >= UNKNOWN_KID_REFETCH_MS)) return this.#certs!;
    this.#fetching ??= this.#fetch().finally(() => {
      this.#fetching = undefined;
    });
    return this.#fetching;
  }

  async #fetch(): Promise<Record<string, string>> {
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
    const now = Date.now();
    this.#certs = certs;
    this.#fetchedAt = now;
    this.#expiresAt = now + (maxAgeMs(response.headers.get("cache-control")) ?? DEFAULT_TTL_MS);
    return certs;
  }
}
