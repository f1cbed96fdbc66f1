/**
 * The deploy scripts talk to Google through gcloud, which cannot reach Google
 * here: a stand-in gcloud on PATH records each call (and answers "not found"
 * to describe calls unless told otherwise), so the test checks the exact
 * commands a deployment runs. gcloud-offline.test.ts replays them with the
 * real gcloud to check their flags.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";
import { FakeGcloud } from "./fake-gcloud.ts";

const gcloud = new FakeGcloud();
afterAll(() => gcloud.remove());
const run = (script: string, env: Record<string, string>, args: string[] = []) => gcloud.run(script, env, args);

const P1_URL = "https://database-task-123456789012.europe-west1.run.app";
const MAINTAIN_FLAGS = (location: string, project: string, url: string, audience: string, invoker = `cloud-tasks-invoker@${project}.iam.gserviceaccount.com`) =>
  `--location ${location} --project ${project} --schedule * * * * * --uri ${url}/tasks/maintain/ --http-method POST ` +
  `--oidc-service-account-email ${invoker} --oidc-token-audience ${audience} --attempt-deadline 60s --max-retry-attempts 0 ` +
  "--description database-task maintenance: re-dispatches lost Cloud Tasks, recovers expired leases";

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

  it("enables Cloud Scheduler next to Cloud Tasks", () => {
    const { calls } = run("setup-gcp.sh", { PROJECT_ID: "p1", REGION: "europe-west1", PLATFORM: "cloudrun" });
    expect(calls.slice(0, 2)).toEqual(["services enable cloudtasks.googleapis.com --project p1", "services enable cloudscheduler.googleapis.com --project p1"]);
  });

  it("without the Cloud Run service yet: no run.invoker and no scheduler job, and says what to do", () => {
    const { status, calls, stdout } = run("setup-gcp.sh", { PROJECT_ID: "p1", REGION: "europe-west1", PLATFORM: "cloudrun" });
    expect(status).toBe(0);
    expect(calls).toContain("run services describe database-task --region europe-west1 --project p1");
    expect(calls.join("\n")).not.toMatch(/run\.invoker|scheduler jobs|projects describe/);
    expect(stdout).toContain("Cloud Run service database-task does not exist yet: run deploy/cloudrun.sh");
    expect(stdout).toContain("the Cloud Scheduler job database-task-maintain that calls POST /tasks/maintain/ every minute");
  });

  it("with the Cloud Run service: binds run.invoker, then creates the maintenance job calling the deterministic run.app URL", () => {
    const { status, calls, argv, stdout } = run("setup-gcp.sh", {
      PROJECT_ID: "p1",
      REGION: "europe-west1",
      PLATFORM: "cloudrun",
      FAKE_GCLOUD_EXISTS: "run services describe",
    });
    expect(status).toBe(0);
    const binding =
      "run services add-iam-policy-binding database-task --region europe-west1 --project p1 --member serviceAccount:cloud-tasks-invoker@p1.iam.gserviceaccount.com --role roles/run.invoker";
    const create = `scheduler jobs create http database-task-maintain ${MAINTAIN_FLAGS("europe-west1", "p1", P1_URL, P1_URL)}`;
    expect(calls).toContain(binding);
    expect(calls).toContain("projects describe p1 --format value(projectNumber)");
    expect(calls).toContain("scheduler jobs describe database-task-maintain --location europe-west1 --project p1");
    expect(calls).toContain(create);
    expect(calls.indexOf(create)).toBeGreaterThan(calls.indexOf(binding));
    expect(calls.join("\n")).not.toContain("scheduler jobs update");
    expect(stdout).toContain(`+ gcloud ${create}`);
    // The schedule and the description reach gcloud as one argument each.
    const args = argv.find((call) => call.args.slice(0, 4).join(" ") === "scheduler jobs create http")!.args;
    expect(args[args.indexOf("--schedule") + 1]).toBe("* * * * *");
    expect(args[args.indexOf("--description") + 1]).toBe("database-task maintenance: re-dispatches lost Cloud Tasks, recovers expired leases");
    expect(args).toHaveLength(25);
  });

  it("updates the maintenance job when it exists already, with the same settings", () => {
    const { status, calls } = run("setup-gcp.sh", {
      PROJECT_ID: "p1",
      REGION: "europe-west1",
      PLATFORM: "cloudrun",
      FAKE_GCLOUD_EXISTS: "run services describe|scheduler jobs describe",
    });
    expect(status).toBe(0);
    expect(calls).toContain(`scheduler jobs update http database-task-maintain ${MAINTAIN_FLAGS("europe-west1", "p1", P1_URL, P1_URL)}`);
    expect(calls.join("\n")).not.toContain("scheduler jobs create");
  });

  it("takes the job name, its location, the service URL and the audience from the environment", () => {
    const { status, calls } = run("setup-gcp.sh", {
      PROJECT_ID: "p1",
      REGION: "europe-west1",
      PLATFORM: "cloudrun",
      SERVICE: "tasks",
      INVOKER: "inv",
      SCHEDULER_JOB: "tick",
      SCHEDULER_LOCATION: "europe-west3",
      SERVICE_URL: "https://tasks.example.com/",
      AUDIENCE: "https://tasks-abc123-ew.a.run.app",
      FAKE_GCLOUD_EXISTS: "run services describe",
    });
    expect(status).toBe(0);
    expect(calls).toContain(
      `scheduler jobs create http tick ${MAINTAIN_FLAGS("europe-west3", "p1", "https://tasks.example.com", "https://tasks-abc123-ew.a.run.app", "inv@p1.iam.gserviceaccount.com")}`,
    );
    expect(calls).toContain("scheduler jobs describe tick --location europe-west3 --project p1");
    // SERVICE_URL given: no project number needed.
    expect(calls.join("\n")).not.toContain("projects describe");
  });

  it("uses the origin of SERVICE_URL as the audience by default, as the handler does", () => {
    const { calls } = run("setup-gcp.sh", {
      PROJECT_ID: "p1",
      REGION: "europe-west1",
      PLATFORM: "cloudrun",
      SERVICE_URL: "https://tasks.example.com/app",
      FAKE_GCLOUD_EXISTS: "run services describe",
    });
    expect(calls.join("\n")).toContain("--uri https://tasks.example.com/app/tasks/maintain/ --http-method POST");
    expect(calls.join("\n")).toContain("--oidc-token-audience https://tasks.example.com --attempt-deadline");
  });

  it("refuses a SERVICE_URL without a scheme before it changes anything", () => {
    const bad = run("setup-gcp.sh", { PROJECT_ID: "p1", REGION: "europe-west1", SERVICE_URL: "tasks.example.com", FAKE_GCLOUD_EXISTS: "run services describe" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("SERVICE_URL must be a URL such as https://tasks.example.com, got: tasks.example.com");
    expect(bad.calls).toEqual([]);
  });

  it("says what to do when SERVICE-PROJECT_NUMBER is too long for a run.app hostname", () => {
    const service = "a-rather-long-service-name-that-fills-the-hostname-lab";
    const { status, calls, stdout } = run("setup-gcp.sh", {
      PROJECT_ID: "p1",
      REGION: "europe-west1",
      PLATFORM: "cloudrun",
      SERVICE: service,
      FAKE_GCLOUD_EXISTS: "run services describe",
    });
    expect(status).toBe(0);
    expect(`${service}-123456789012`.length).toBe(67);
    expect(calls.join("\n")).toContain("roles/run.invoker");
    expect(calls.join("\n")).not.toContain("scheduler jobs");
    expect(stdout).toContain("Set SERVICE_URL to the URL that");
  });

  it("uses the App Engine default service account on App Engine, no run.invoker, and leaves maintenance to cron.yaml", () => {
    const { status, calls, stdout } = run("setup-gcp.sh", { PROJECT_ID: "p2", REGION: "us-central1", PLATFORM: "appengine" });
    expect(status).toBe(0);
    expect(calls.join("\n")).toContain("--member serviceAccount:p2@appspot.gserviceaccount.com --role roles/cloudtasks.enqueuer");
    expect(calls.join("\n")).not.toContain("roles/run.invoker");
    expect(calls.join("\n")).not.toContain("scheduler jobs");
    // gcloud app deploy cron.yaml writes the cron jobs through the Cloud Scheduler API.
    expect(calls).toContain("services enable cloudscheduler.googleapis.com --project p2");
    expect(stdout).toContain("cron.yaml calls /tasks/maintain/ every minute; deploy/appengine.sh deploys it");
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
    const { status, calls, argv } = run("cloudrun.sh", { PROJECT_ID: "p3", REGION: "asia-northeast1", IMAGE: "img:1" });
    expect(status).toBe(0);
    expect(calls[0]).toBe("builds submit --pack image=img:1 --project p3 .");
    expect(calls[1]).toMatch(/^run services replace \S+ --region asia-northeast1 --project p3$/);
    const manifest = readFileSync(argv[1].args[3], "utf8");
    expect(manifest).toContain("serviceAccountName: database-task-app@p3.iam.gserviceaccount.com");
    expect(manifest).toContain("image: img:1");
    expect(manifest).toMatch(/^ {6}timeoutSeconds: 600$/m);
  });

  it("deploys app.yaml and cron.yaml to App Engine", () => {
    const { status, calls } = run("appengine.sh", { PROJECT_ID: "p4" });
    expect(status).toBe(0);
    expect(calls[0]).toBe("app deploy app.yaml cron.yaml --project p4 --quiet");
    const versioned = run("appengine.sh", { PROJECT_ID: "p4" }, ["--version", "v2", "--no-promote"]);
    expect(versioned.calls[0]).toBe("app deploy app.yaml cron.yaml --project p4 --quiet --version v2 --no-promote");
  });
});

describe("cron.yaml, app.yaml and cloudrun.yaml", () => {
  const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");

  it("cron.yaml calls the maintenance endpoint every minute", () => {
    const cron = read("cron.yaml").replace(/^\s*#.*$/gm, "");
    expect(cron).toMatch(/^cron:\n {2}- description: ".+"\n {4}url: \/tasks\/maintain\/\n {4}schedule: every 1 minutes\n$/m);
    // Not retried: the next run is a minute away.
    expect(cron).not.toContain("retry_parameters");
  });

  it("the request limits agree with Cloud Tasks' 600 s default dispatch deadline", () => {
    // Cloud Run: timeoutSeconds; App Engine: automatic scaling, whose limit is 10 minutes.
    expect(read("cloudrun.yaml")).toMatch(/^ {6}timeoutSeconds: 600$/m);
    expect(read("app.yaml")).toMatch(/^automatic_scaling:$/m);
    expect(read("app.yaml")).not.toMatch(/^(basic|manual)_scaling:/m);
  });
});
