import { sign, type KeyObject } from "node:crypto";

/** The JOSE header and claims of a compact JWS; only RS256 is produced here. */
export interface JwtParts {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString("base64url");
}

/**
 * Signs an RS256 JWT. Built by hand: a compact JWS is three base64url parts,
 * and node:crypto already does the RSA work, so no JWT library is needed.
 */
export function signRs256Jwt(parts: JwtParts, privateKey: KeyObject | string): string {
  const header = { alg: "RS256", typ: "JWT", ...parts.header };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(parts.payload))}`;
  const signature = sign("sha256", Buffer.from(signingInput), privateKey);
  return `${signingInput}.${base64url(signature)}`;
}

/** Reads a JWT's header without verifying anything; undefined when it is not a JWT. */
export function decodeJwtHeader(token: string): Record<string, unknown> | undefined {
  const [first, , third] = token.split(".");
  if (!first || third === undefined) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(first, "base64url").toString("utf8"));
    return header && typeof header === "object" && !Array.isArray(header) ? (header as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
