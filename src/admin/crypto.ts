import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import type { ResolvedOptions } from "./options.ts";

/**
 * Compares secrets in time that does not depend on where they differ or on
 * their lengths: both sides are hashed to equal-length digests first.
 */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a, "utf8").digest();
  const db = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(da, db);
}

export function sign(key: Buffer, purpose: string, data: string): string {
  return createHmac("sha256", key).update(`${purpose}\n${data}`, "utf8").digest("base64url");
}

export function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * The router's signing key. Derived from what the deployment already shares
 * (the secret, else the credentials) so that every process behind a load
 * balancer accepts the others' tokens; random only when nothing is shared.
 */
export function signingKey(options: ResolvedOptions): Buffer {
  const material =
    options.secret !== null
      ? `secret\n${options.secret}`
      : options.basicAuth || options.bearerToken
        ? `credentials\n${options.basicAuth?.username ?? ""}\n${options.basicAuth?.password ?? ""}\n${options.bearerToken ?? ""}`
        : null;
  const ikm = material === null ? randomBytes(32) : Buffer.from(material, "utf8");
  return Buffer.from(hkdfSync("sha256", ikm, "database-task/admin", "signing key v1", 32));
}
