import { createHash } from "node:crypto";
import { signRs256Jwt } from "../jwt.ts";
import type { SigningKey } from "./signing-key.ts";

export const GOOGLE_ISSUER = "https://accounts.google.com";

export interface IdTokenRequest {
  serviceAccountEmail: string;
  audience: string;
  /** Claims to add or override, e.g. to craft a token a test expects to be refused. */
  claims?: Record<string, unknown>;
}

/**
 * Google gives each service account a numeric unique id, used as `sub` and
 * `azp`. The emulator has no directory, so it derives a stable one from the email.
 */
export function serviceAccountUniqueId(email: string): string {
  const digits = BigInt(`0x${createHash("sha256").update(email.toLowerCase()).digest("hex").slice(0, 16)}`).toString(10);
  return `1${digits.padStart(20, "0")}`;
}

/** Mints ID tokens shaped like the ones Google issues for service accounts, signed with the emulator's key. */
export class OidcSigner {
  readonly issuer: string;
  readonly #key: SigningKey;
  readonly #lifetimeSeconds: number;

  constructor(key: SigningKey, issuer: string, lifetimeSeconds = 3600) {
    this.#key = key;
    this.issuer = issuer;
    this.#lifetimeSeconds = lifetimeSeconds;
  }

  get kid(): string {
    return this.#key.kid;
  }

  sign(request: IdTokenRequest): string {
    const iat = Math.floor(Date.now() / 1000);
    const id = serviceAccountUniqueId(request.serviceAccountEmail);
    const payload = {
      aud: request.audience,
      azp: id,
      email: request.serviceAccountEmail,
      email_verified: true,
      exp: iat + this.#lifetimeSeconds,
      iat,
      iss: this.issuer,
      sub: id,
      ...request.claims,
    };
    return signRs256Jwt({ header: { kid: this.#key.kid }, payload }, this.#key.privateKey);
  }

  /** `{kid: PEM}`: what google-auth-library's OAuth2Client fetches in Node (oauth2/v1/certs). */
  pemCertificates(): Record<string, string> {
    return { [this.#key.kid]: this.#key.publicKey.export({ type: "spki", format: "pem" }).toString() };
  }

  /** The same key as a JWK set (oauth2/v3/certs). */
  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.#key.publicKey.export({ format: "jwk" });
    return { keys: [{ kty: "RSA", alg: "RS256", use: "sig", kid: this.#key.kid, n: jwk.n, e: jwk.e }] };
  }
}
