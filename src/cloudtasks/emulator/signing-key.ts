import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const generateRsaKeyPair = promisify(generateKeyPair);

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Derived from the public key, so a key loaded from a file keeps its kid across restarts. */
  kid: string;
}

function fromPrivateKey(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== "rsa") throw new Error("The OIDC signing key must be an RSA private key (RS256).");
  const publicKey = createPublicKey(privateKey);
  const kid = createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 40);
  return { privateKey, publicKey, kid };
}

export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey } = await generateRsaKeyPair("rsa", { modulusLength: 2048 });
  return fromPrivateKey(privateKey);
}

export function signingKeyFromPem(pem: string | Buffer): SigningKey {
  return fromPrivateKey(createPrivateKey(pem));
}

/**
 * Loads the PEM private key at `file`; when the file does not exist and
 * `createIfMissing` is set, generates one and saves it there (owner-only), so
 * the next start signs with the same key and cached certificates stay valid.
 */
export async function loadSigningKey(file: string, createIfMissing: boolean): Promise<SigningKey> {
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || !createIfMissing) throw error;
    const key = await generateSigningKey();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, key.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
    return key;
  }
  return signingKeyFromPem(pem);
}
