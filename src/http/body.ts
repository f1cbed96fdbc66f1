import type { Request } from "express";
import { HttpError } from "./respond.ts";

/** The largest request body the endpoints read; their parameters fit in a few hundred bytes. */
export const DEFAULT_BODY_LIMIT = 100 * 1024;

const tooLarge = (limit: number) => new HttpError(413, `Request body too large (limit ${limit} bytes)`, { Connection: "close" });

/**
 * The request body as a JSON object: an empty body is `{}`, as in
 * django-database-task. Uses `req.body` when a body parser in front of the
 * view has already consumed the stream.
 */
export async function readJsonObject(req: Request, limit = DEFAULT_BODY_LIMIT): Promise<Record<string, unknown>> {
  const consumed = req.body !== undefined || req.readableDidRead || req.readableEnded;
  const value = consumed ? fromParsedBody(req.body) : parseText(await readText(req, limit));
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "Request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function fromParsedBody(body: unknown): unknown {
  if (body === undefined) return {};
  if (typeof body === "string") return parseText(body);
  if (Buffer.isBuffer(body)) return parseText(decodeUtf8(body));
  return body;
}

function parseText(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "Invalid JSON");
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "Invalid JSON");
  }
}

async function readText(req: Request, limit: number): Promise<string> {
  const encoding = String(req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "") throw new HttpError(415, `Unsupported content encoding "${encoding}"`);
  // Refuse before reading a byte when the client announces more than the limit.
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge(limit);
  }
  return decodeUtf8(await collect(req, limit));
}

/**
 * Reads the body with listeners rather than async iteration: leaving an async
 * iterator early destroys the socket, and the 413 answer would never arrive.
 */
function collect(req: Request, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onFailure);
      req.off("close", onFailure);
    };
    function onData(chunk: Buffer | string) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      size += buffer.length;
      if (size <= limit) {
        chunks.push(buffer);
        return;
      }
      cleanup();
      // Keep the stream flowing so the rest is discarded instead of stalling the connection.
      req.resume();
      reject(tooLarge(limit));
    }
    function onEnd() {
      cleanup();
      resolve(Buffer.concat(chunks));
    }
    function onFailure() {
      cleanup();
      reject(new HttpError(400, "Request body could not be read"));
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onFailure);
    req.on("close", onFailure);
  });
}
