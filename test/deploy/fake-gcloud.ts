/**
 * Runs a deploy script with test/deploy/fake-gcloud.sh as `gcloud` on PATH
 * and returns what it called. Each FakeGcloud has a directory of its own, so
 * test files running in parallel do not share logs.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "../helpers/cli.ts";

/** Variables the scripts read: cleared, so a developer's shell cannot change what a test sees. */
const SCRIPT_VARIABLES = [
  "PROJECT_ID", "REGION", "PLATFORM", "QUEUES", "SERVICE", "INVOKER", "APP_SA", "MAX_ATTEMPTS", "MIN_BACKOFF", "MAX_BACKOFF",
  "SCHEDULER_JOB", "SCHEDULER_LOCATION", "SERVICE_URL", "AUDIENCE", "IMAGE", "FAKE_GCLOUD_EXISTS", "FAKE_PROJECT_NUMBER",
];

export interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Each gcloud call as "$*". */
  calls: string[];
  /** Each gcloud call as its working directory and exact arguments. */
  argv: Array<{ cwd: string; args: string[] }>;
}

export class FakeGcloud {
  readonly dir = mkdtempSync(path.join(tmpdir(), "fake-gcloud-"));
  private readonly bin = path.join(this.dir, "bin");

  constructor() {
    mkdirSync(this.bin);
    copyFileSync(path.join(ROOT, "test/deploy/fake-gcloud.sh"), path.join(this.bin, "gcloud"));
    chmodSync(path.join(this.bin, "gcloud"), 0o755);
  }

  /** Runs deploy/<script> with `args`; `env` holds the script's variables and FAKE_GCLOUD_* answers. */
  run(script: string, env: Record<string, string>, args: string[] = []): ScriptRun {
    const logs = path.join(this.dir, "logs");
    rmSync(logs, { recursive: true, force: true });
    mkdirSync(logs);
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const name of SCRIPT_VARIABLES) delete base[name];
    const result = spawnSync("bash", [path.join(ROOT, "deploy", script), ...args], {
      env: { ...base, PATH: `${this.bin}:${process.env.PATH}`, FAKE_GCLOUD_DIR: logs, FAKE_GCLOUD_FILES: path.join(this.dir, "files"), ...env },
      encoding: "utf8",
    });
    const lines = (file: string) => {
      try {
        return readFileSync(path.join(logs, file), "utf8").split("\n").filter((line) => line !== "");
      } catch {
        return [];
      }
    };
    const argv = lines("argv.log").map((line) => {
      const [cwd, ...args] = line.split("\x1f");
      return { cwd, args };
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls: lines("calls.log"), argv };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
