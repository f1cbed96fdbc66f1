/**
 * Debian's Chromium driven by playwright-core, with a profile of its own per
 * run. Playwright takes the profile directory as an argument of
 * launchPersistentContext, never as --user-data-dir.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(options: { httpCredentials?: { username: string; password: string } } = {}): Promise<Chromium> {
  const profile = mkdtempSync(path.join(tmpdir(), "database-task-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1440, height: 900 },
    httpCredentials: options.httpCredentials,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
