import type { Request, Response } from "express";
import { clearCookie, readCookie, setCookie } from "./cookies.ts";
import { safeEqual, sign } from "./crypto.ts";

export type FlashLevel = "success" | "warning" | "error";

export interface Flash {
  level: FlashLevel;
  text: string;
}

const FLASH_COOKIE = "dt_admin_flash";
const LEVELS: FlashLevel[] = ["success", "warning", "error"];
// Cookies above ~4 KB are dropped by browsers; outcome messages are far shorter.
const MAX_TEXT = 1000;

/**
 * An action's outcome, carried to the page the browser is redirected to.
 * Signed, so that nothing but this router can put words on the page, and
 * rendered as escaped text like everything else.
 */
export function setFlash(req: Request, res: Response, key: Buffer, flash: Flash): void {
  const payload = Buffer.from(JSON.stringify({ level: flash.level, text: flash.text.slice(0, MAX_TEXT) }), "utf8").toString("base64url");
  setCookie(req, res, FLASH_COOKIE, `${payload}.${sign(key, "flash", payload)}`, { maxAgeSeconds: 60 });
}

/** Reads and clears the outcome message, so that reloading the page does not show it again. */
export function takeFlash(req: Request, res: Response, key: Buffer): Flash | null {
  const cookie = readCookie(req, FLASH_COOKIE);
  if (cookie === null) return null;
  clearCookie(req, res, FLASH_COOKIE);
  const [payload, signature] = cookie.split(".");
  if (!payload || !signature || !safeEqual(signature, sign(key, "flash", payload))) return null;
  try {
    const parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Partial<Flash>;
    if (typeof parsed.text !== "string" || !LEVELS.includes(parsed.level as FlashLevel)) return null;
    return { level: parsed.level as FlashLevel, text: parsed.text };
  } catch {
    return null;
  }
}
