import type { Request, Response } from "express";

/** The value of one cookie from the request, or null. Express has no cookie parser built in. */
export function readCookie(req: Request, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value);
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * The admin's cookies are scoped to its mount path, unreadable from scripts,
 * and never sent with a cross-site POST. Lax, not Strict: an operator who
 * follows a link from an alert arrives without Strict cookies, and the fresh
 * CSRF cookie issued then would void the forms open in other tabs.
 */
export function setCookie(req: Request, res: Response, name: string, value: string, options: { maxAgeSeconds?: number } = {}): void {
  const attributes = [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${cookiePath(req)}`,
    "HttpOnly",
    "SameSite=Lax",
  ];
  if (req.secure) attributes.push("Secure");
  if (options.maxAgeSeconds !== undefined) attributes.push(`Max-Age=${options.maxAgeSeconds}`);
  res.append("Set-Cookie", attributes.join("; "));
}

export function clearCookie(req: Request, res: Response, name: string): void {
  setCookie(req, res, name, "", { maxAgeSeconds: 0 });
}

function cookiePath(req: Request): string {
  // Path attributes end at ";": a mount path holding one must not add attributes.
  const base = req.baseUrl.replace(/[;\s]/g, "");
  return base === "" ? "/" : base;
}
