/**
 * Replays every gcloud command the deploy scripts run (recorded by the fake
 * gcloud) with the real gcloud, offline, to catch wrong flags and values.
 *
 * What gcloud (SDK 528) does without credentials or network, found by trying:
 * - it parses and checks all flags first: an unknown flag, a bad choice or a
 *   missing required flag ends with exit code 2 ("unrecognized arguments",
 *   "argument --x: ..."); some values are checked next and end with exit code 1
 *   (`--attempt-deadline abc`: "Duration unit 'abc' must be preceded by a number";
 *   `builds submit --pack image=x`: "Invalid value for [--pack]");
 * - `run services replace FILE` also loads FILE into a Cloud Run Service before
 *   anything else (unknown fields and wrong types fail);
 * - then a good command stops with exit code 1 and "You do not currently have an
 *   active account selected": that message is the proof a command got through.
 * - `app deploy` is the exception: it stops at the missing account before it
 *   reads app.yaml or cron.yaml. Given a (fake) access token, with runtime
 *   builders off (else it first fetches gs://runtime-builders) and the App Engine
 *   API pointed at a local stub answering 403, it loads every YAML file and then
 *   asks the stub for the app: a request reaching the stub is the proof here.
 *   Only the structure is checked locally (unknown keys, types); a cron
 *   `schedule` is checked by Google, not by gcloud.
 *
 * Each command takes about 1-2 s of gcloud start-up, so they run a few at a time.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";
import { FakeGcloud } from "./fake-gcloud.ts";

function findGcloud(): string | null {
  const candidates = [process.env.REAL_GCLOUD, "/usr/bin/gcloud", ...(process.env.PATH ?? "").split(":").map((dir) => path.join(dir, "gcloud"))];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}

const GCLOUD = findGcloud();
if (!GCLOUD) {
  // Like a missing database server (test/helpers/databases.ts): skipped on a developer's machine, a failure in CI.
  if (process.env.CI) throw new Error("gcloud is not installed (looked for /usr/bin/gcloud and on PATH), and CI=true requires it for the offline flag check.");
  console.warn("[test] gcloud not installed: skipping the offline replay of the deploy scripts' gcloud commands.");
}

const NO_ACCOUNT = "You do not currently have an active account selected";
const CONCURRENCY = 3;

const work = mkdtempSync(path.join(tmpdir(), "gcloud-offline-"));
const fake = new FakeGcloud();
afterAll(() => {
  fake.remove();
  rmSync(work, { recursive: true, force: true });
});

interface Command {
  cwd: string;
  args: string[];
}

interface Outcome extends Command {
  status: number | null;
  output: string;
  ms: number;
  /** Whether gcloud got past its own checks to the expected stop. */
  passed: boolean;
}

let counter = 0;

/** Runs the real gcloud in an empty configuration with nothing from this machine's environment. */
function gcloud(command: Command, extraEnv: Record<string, string> = {}): Promise<{ status: number | null; output: string; ms: number }> {
  const home = path.join(work, `run-${++counter}`);
  mkdirSync(path.join(home, "config"), { recursive: true });
  const env = {
    PATH: `${path.dirname(GCLOUD!)}:/usr/bin:/bin`,
    HOME: home,
    LANG: "C.UTF-8",
    CLOUDSDK_CONFIG: path.join(home, "config"),
    CLOUDSDK_CORE_DISABLE_PROMPTS: "1",
    // Never pick up a GCE/Cloud Build VM's own account: the commands name made-up projects.
    CLOUDSDK_CORE_CHECK_GCE_METADATA: "false",
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: "true",
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: "true",
    ...extraEnv,
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(GCLOUD!, command.args, { cwd: command.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output, ms: Date.now() - started });
    });
  });
}

/** `gcloud app deploy`, let through to its first API call, which a local stub refuses. */
async function appDeploy(command: Command): Promise<Outcome> {
  const requests: string[] = [];
  const stub = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    response.writeHead(403, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { code: 403, message: "offline check: stop here", status: "PERMISSION_DENIED" } }));
  });
  await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
  const token = path.join(work, "token");
  writeFileSync(token, "offline-check\n");
  try {
    const result = await gcloud(command, {
      CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: token,
      CLOUDSDK_APP_USE_RUNTIME_BUILDERS: "false",
      CLOUDSDK_API_ENDPOINT_OVERRIDES_APPENGINE: `http://127.0.0.1:${(stub.address() as AddressInfo).port}/`,
    });
    const passed = result.status === 1 && requests.some((line) => line.startsWith("GET /v1/apps/"));
    return { ...command, ...result, passed };
  } finally {
    stub.close();
  }
}

async function check(command: Command): Promise<Outcome> {
  if (command.args[0] === "app" && command.args[1] === "deploy") return appDeploy(command);
  const result = await gcloud(command);
  return { ...command, ...result, passed: result.status === 1 && result.output.includes(NO_ACCOUNT) };
}

async function checkAll(commands: Command[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(commands.length);
  let next = 0;
  const worker = async () => {
    while (next < commands.length) {
      const index = next++;
      outcomes[index] = await check(commands[index]);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcomes;
}

/** The distinct gcloud commands of a Cloud Run and an App Engine deployment, new and repeated. */
function recordedCommands(): Command[] {
  const runs = [
    fake.run("setup-gcp.sh", { PROJECT_ID: "p1", REGION: "europe-west1", PLATFORM: "cloudrun", FAKE_GCLOUD_EXISTS: "run services describe" }),
    fake.run("setup-gcp.sh", { PROJECT_ID: "p1", REGION: "europe-west1", PLATFORM: "cloudrun", FAKE_GCLOUD_EXISTS: "run services describe|scheduler jobs describe" }),
    fake.run("setup-gcp.sh", { PROJECT_ID: "p1", REGION: "europe-west1", PLATFORM: "appengine" }),
    // No IMAGE: the script's own default (REGION-docker.pkg.dev/...), which `builds submit --pack` checks.
    fake.run("cloudrun.sh", { PROJECT_ID: "p1", REGION: "europe-west1" }),
    fake.run("appengine.sh", { PROJECT_ID: "p1" }, ["--version", "v2", "--no-promote"]),
  ];
  for (const run of runs) expect(run.status, run.stderr).toBe(0);
  const seen = new Set<string>();
  const commands: Command[] = [];
  for (const call of runs.flatMap((run) => run.argv)) {
    const key = call.args.join("\x1f");
    if (seen.has(key)) continue;
    seen.add(key);
    commands.push(call);
  }
  return commands;
}

const show = (outcome: Outcome) => ({
  command: `gcloud ${outcome.args.join(" ")}`,
  status: outcome.status,
  output: outcome.output.trim().split("\n").slice(0, 4).join("\n"),
});

describe.skipIf(!GCLOUD)("the deploy scripts' gcloud commands, replayed with the real gcloud offline", () => {
  it("all pass gcloud's own checks of flags, values and files", { timeout: 120_000 }, async () => {
    const commands = recordedCommands();
    const joined = commands.map((command) => command.args.join(" "));
    // The commands this check is mostly for.
    for (const prefix of ["scheduler jobs create http ", "scheduler jobs update http ", "app deploy app.yaml cron.yaml ", "run services replace ", "builds submit "]) {
      expect(joined.some((command) => command.startsWith(prefix)), prefix).toBe(true);
    }
    expect(commands.length).toBeLessThan(30);
    const outcomes = await checkAll(commands);
    expect(outcomes.filter((outcome) => !outcome.passed).map(show)).toEqual([]);
  });

  it("tells a wrong flag, a wrong value and a wrong cron.yaml from good ones", { timeout: 60_000 }, async () => {
    const good = recordedCommands().find((command) => command.args.slice(0, 4).join(" ") === "scheduler jobs create http")!;
    const swap = (flag: string, replacement: string[]) => {
      const args = [...good.args];
      const at = args.indexOf(flag);
      args.splice(at, 2, ...replacement);
      return { cwd: good.cwd, args };
    };
    // A cron.yaml with a misspelt key, next to the real app.yaml.
    const app = path.join(work, "bad-cron");
    mkdirSync(app);
    copyFileSync(path.join(ROOT, "app.yaml"), path.join(app, "app.yaml"));
    writeFileSync(path.join(app, "cron.yaml"), readFileSync(path.join(ROOT, "cron.yaml"), "utf8").replace("    url: ", "    uri: "));

    const [unknownFlag, badValue, badChoice, badCron] = await checkAll([
      swap("--oidc-token-audience", ["--oidc-audience", "https://x.run.app"]),
      swap("--attempt-deadline", ["--attempt-deadline", "a minute"]),
      swap("--http-method", ["--http-method", "FETCH"]),
      { cwd: app, args: ["app", "deploy", "app.yaml", "cron.yaml", "--project", "p1", "--quiet"] },
    ]);
    expect(unknownFlag).toMatchObject({ passed: false, status: 2 });
    expect(unknownFlag.output).toContain("unrecognized arguments");
    expect(badValue.passed).toBe(false);
    expect(badValue.output).not.toContain(NO_ACCOUNT);
    expect(badChoice).toMatchObject({ passed: false, status: 2 });
    expect(badChoice.output).toContain("argument --http-method: Invalid choice");
    expect(badCron.passed).toBe(false);
    expect(badCron.output).toContain("Unexpected attribute 'uri' for object of type CronEntry");
  });
});
