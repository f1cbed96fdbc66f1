import http from "node:http";
import type { AddressInfo } from "node:net";
import { connectableHost, formatHostPort } from "./address.ts";
import type { OidcSigner } from "./oidc-signer.ts";

export const PEM_CERTS_PATH = "/oauth2/v1/certs";
export const JWKS_PATH = "/oauth2/v3/certs";

/**
 * Short, because a generated key changes at every restart: verifiers that
 * honour max-age then pick the new key up within minutes.
 */
const CERTS_CACHE_CONTROL = "public, max-age=300, must-revalidate";

export interface CertsServer {
  baseUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the emulator's public keys where google-auth-library (PEM) and JWKS clients look for them. */
export async function startCertsServer(options: { host: string; port: number; signer: OidcSigner; info: () => Record<string, unknown> }): Promise<CertsServer> {
  const { signer } = options;
  const server = http.createServer((request, response) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers });
      response.end(request.method === "HEAD" ? undefined : JSON.stringify(body, null, 2));
    };
    if (request.method !== "GET" && request.method !== "HEAD") return send(405, { error: "Method not allowed" }, { Allow: "GET, HEAD" });
    const pathname = new URL(request.url ?? "/", "http://emulator").pathname;
    switch (pathname) {
      case PEM_CERTS_PATH:
        return send(200, signer.pemCertificates(), { "Cache-Control": CERTS_CACHE_CONTROL });
      case JWKS_PATH:
        return send(200, signer.jwks(), { "Cache-Control": CERTS_CACHE_CONTROL });
      case "/.well-known/openid-configuration":
        return send(200, {
          issuer: signer.issuer,
          jwks_uri: `${baseUrl}${JWKS_PATH}`,
          id_token_signing_alg_values_supported: ["RS256"],
          response_types_supported: ["id_token"],
          subject_types_supported: ["public"],
          claims_supported: ["aud", "azp", "email", "email_verified", "exp", "iat", "iss", "sub"],
        });
      case "/":
        return send(200, options.info());
      default:
        return send(404, { error: "Not found" });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://${formatHostPort(connectableHost(options.host), port)}`;
  return {
    baseUrl,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
