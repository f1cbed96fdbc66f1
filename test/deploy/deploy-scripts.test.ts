/**
 * The deploy scripts talk to Google through gcloud, which cannot reach Google
 * here: a stand-in gcloud on PATH records each call (and answers "not found"
 * to describe calls), so the test checks the exact commands a deployment runs.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";

const dir = mkdtempSync(path.join(tmpdir(), "fake-gcloud-"));
const log = path.join(dir, "calls.log");
writeFileSync(
  path.join(dir, "gcloud"),
  `#!/usr/bin/env bash\necho "$*" >> "${log}"\ncase "$*" in *describe*) exit 1;; esac\nexit 0\n`,
);
chmodSync(path.join(dir, "gcloud"), 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(script: string, env: Record<string, string>) {
  rmSync(log, { force: true });
  const result = spawnSync("bash", [path.join(ROOT, "deploy", script)], {
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, ...env },
    encoding: "utf8",
  });
  const calls = (() => {
    try {
      return readFileSync(log, "utf8").trim().split("\n");
    } catch {
      return [];
    }
  })();
  return { ...result, calls };
}

describe("deploy/setup-gcp.sh", () => {
  it("creates the queues, the invoker account and django-database-task's IAM bindings on Cloud Run", () => {
    const { status, calls, stdout } = run("setup-gcp.sh", { PROJECT_ID: "p1", REGION: "europe-west1", PLATFORM: "cloudrun", QUEUES: "default emails" });
    expect(status).toBe(0);
    expect(calls).toContain("tasks queues create default --location europe-west1 --project p1 --max-attempts 10 --min-backoff 5s --max-backoff 600s");
    expect(calls).toContain("tasks queues create emails --location europe-west1 --project p1 --max-attempts 10 --min-backoff 5s --max-backoff 600s");
    expect(calls).toContain("iam service-accounts create cloud-tasks-invoker --display-name Cloud Tasks Invoker --project p1");
    expect(calls).toContain(
      "projects add-iam-policy-binding p1 --member serviceAccount:database-task-app@p1.iam.gserviceaccount.com --role roles/cloudtasks.enqueuer --condition None",
    );
    expect(calls).toContain(
      "iam service-accounts add-iam-policy-binding cloud-tasks-invoker@p1.iam.gserviceaccount.com --member serviceAccount:database-task-app@p1.iam.gserviceaccount.com --role roles/iam.serviceAccountUser --project p1",
    );
    expect(stdout).toContain('serviceAccountEmail: "cloud-tasks-invoker@p1.iam.gserviceaccount.com"');
  });

  it("uses the App Engine default service account on App Engine, and no run.invoker", () => {
    const { status, calls } = run("setup-gcp.sh", { PROJECT_ID: "p2", REGION: "us-central1", PLATFORM: "appengine" });
    expect(status).toBe(0);
    expect(calls.join("\n")).toContain("--member serviceAccount:p2@appspot.gserviceaccount.com --role roles/cloudtasks.enqueuer");
    expect(calls.join("\n")).not.toContain("roles/run.invoker");
  });

  it("refuses to run without a project, or with an unknown platform", () => {
    expect(run("setup-gcp.sh", { PROJECT_ID: "", REGION: "x" }).status).not.toBe(0);
    const bad = run("setup-gcp.sh", { PROJECT_ID: "p", REGION: "r", PLATFORM: "k8s" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("PLATFORM must be cloudrun or appengine");
    expect(bad.calls).toEqual([]);
  });
});

describe("deploy/cloudrun.sh and deploy/appengine.sh", () => {
  it("builds with buildpacks and applies cloudrun.yaml with the project filled in", () => {
    const { status, calls } = run("cloudrun.sh", { PROJECT_ID: "p3", REGION: "asia-northeast1", IMAGE: "img:1" });
    expect(status).toBe(0);
    expect(calls[0]).toBe("builds submit --pack image=img:1 --project p3 .");
    expect(calls[1]).toMatch(/^run services replace \S+ --region asia-northeast1 --project p3$/);
  });

  it("deploys app.yaml to App Engine", () => {
    const { status, calls } = run("appengine.sh", { PROJECT_ID: "p4" });
    expect(status).toBe(0);
    expect(calls[0]).toBe("app deploy app.yaml --project p4 --quiet");
  });
});
