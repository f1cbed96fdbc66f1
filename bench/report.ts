/**
 * Turns the measurements into the printed tables, the goals of issue 6 with
 * their ratios, and the JSON written to bench/results/latest.json.
 */
import os from "node:os";
import type { BenchSettings } from "./config.ts";
import type { QueueSystem, SystemName } from "./systems/system.ts";
import { formatBytes, formatNumber, median, round } from "./util.ts";
import type { CloudTasksResult, HistoryResult, MemoryResult, RoundResult } from "./workloads.ts";

const OURS: SystemName = "database-task";
const PEERS: SystemName[] = ["graphile-worker", "pg-boss"];

export type WorkloadId = "singleEnqueue" | "bulkEnqueue" | "drain" | "drainLeaseMode" | "idleLatencyP50" | "idleLatencyP90";

interface WorkloadDef {
  id: WorkloadId;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  pick: (round: RoundResult) => number | undefined;
  /** Compared with the peers' figures for this workload instead (measured for this project alone). */
  peersFrom?: WorkloadId;
}

function workloadDefs(settings: BenchSettings): WorkloadDef[] {
  const bulkJobs = (settings.bulkCalls * settings.bulkSize).toLocaleString("en-US");
  return [
    { id: "singleEnqueue", title: "enqueue one at a time", unit: "jobs/s", higherIsBetter: true, pick: (r) => r.single.jobsPerSecond },
    {
      id: "bulkEnqueue",
      title: `bulk enqueue, ${settings.bulkSize.toLocaleString("en-US")} per call (${bulkJobs} jobs)`,
      unit: "jobs/s",
      higherIsBetter: true,
      pick: (r) => r.bulk.jobsPerSecond,
    },
    { id: "drain", title: `drain ${bulkJobs} queued jobs`, unit: "jobs/s", higherIsBetter: true, pick: (r) => r.drain.jobsPerSecond },
    {
      id: "drainLeaseMode",
      title: `drain ${bulkJobs} queued jobs, database-task in its default claimMode "lease" (ratios against the peers' drain above)`,
      unit: "jobs/s",
      higherIsBetter: true,
      pick: (r) => r.leaseDrain?.jobsPerSecond,
      peersFrom: "drain",
    },
    { id: "idleLatencyP50", title: "idle worker: enqueue to start, p50", unit: "ms", higherIsBetter: false, pick: (r) => r.latency.p50 },
    { id: "idleLatencyP90", title: "idle worker: enqueue to start, p90", unit: "ms", higherIsBetter: false, pick: (r) => r.latency.p90 },
  ];
}

export interface SystemFigures {
  runs: number[];
  median: number;
}

export interface WorkloadReport {
  title: string;
  unit: string;
  higherIsBetter: boolean;
  systems: Partial<Record<SystemName, SystemFigures>>;
  /** database-task's median divided by each peer's. */
  ratios: Partial<Record<SystemName, number>>;
}

export interface Goal {
  id: string;
  description: string;
  /** ours / reference; null when not measured. */
  ratio: number | null;
  target: string;
  holds: boolean | null;
  detail?: string;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  postgres: string;
  /** 1, 5 and 15 minute load averages: other work on the machine makes figures noisy. */
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

export interface BenchReport {
  /** Version of this file's layout. */
  format: 1;
  timestamp: string;
  quick: boolean;
  durationSeconds: number;
  machine: Machine;
  settings: BenchSettings;
  systems: Partial<Record<SystemName, { version: string; configuration: Record<string, unknown> }>>;
  workloads: Record<WorkloadId, WorkloadReport>;
  /** Every idle-latency probe (ms), per system and round, and the probes that timed out. */
  latencyProbes: Partial<Record<SystemName, Array<{ samplesMs: number[]; timeouts: number }>>>;
  drainChecks: RoundResult["drainCheck"][];
  /** The same checks after each drain in claimMode "lease". */
  leaseDrainChecks: RoundResult["leaseDrainCheck"][];
  history:
    | (Omit<HistoryResult, "drains" | "emptyDrains"> & {
        /** Drain jobs/s with the history in the table, per round, and their median. */
        runs: number[];
        median: number;
        /** The paired empty-table drains, per round, and their median. */
        emptyRuns: number[];
        emptyMedian: number;
        /** median / emptyMedian. */
        ratio: number;
      })
    | null;
  memory: MemoryResult | null;
  cloudTasks: CloudTasksResult;
  goals: Goal[];
  /** Every measured goal holds (unmeasured ones, the Cloud Tasks path, do not count). */
  allMeasuredGoalsHold: boolean;
}

export function machineInfo(postgres: string): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres,
    loadAverageAtStart: os.loadavg().map((load) => round(load)),
  };
}

export function buildReport(input: {
  startedAt: number;
  machine: Machine;
  settings: BenchSettings;
  systems: QueueSystem[];
  rounds: RoundResult[];
  history: HistoryResult | null;
  memory: MemoryResult | null;
  cloudTasks: CloudTasksResult;
}): BenchReport {
  const { settings, rounds } = input;
  const workloads = {} as Record<WorkloadId, WorkloadReport>;
  for (const def of workloadDefs(settings)) {
    const systems: WorkloadReport["systems"] = {};
    for (const system of input.systems) {
      const runs = rounds
        .filter((r) => r.system === system.name)
        .map(def.pick)
        .filter((v): v is number => v !== undefined);
      if (runs.length > 0) systems[system.name] = { runs: runs.map((v) => round(v)), median: round(median(runs)) };
    }
    const ratios: WorkloadReport["ratios"] = {};
    const ours = systems[OURS]?.median;
    for (const peer of PEERS) {
      const theirs = (def.peersFrom ? workloads[def.peersFrom] : { systems })?.systems[peer]?.median;
      if (ours !== undefined && theirs !== undefined) ratios[peer] = round(ours / theirs, 3);
    }
    workloads[def.id] = { title: def.title, unit: def.unit, higherIsBetter: def.higherIsBetter, systems, ratios };
  }

  const latencyProbes: BenchReport["latencyProbes"] = {};
  for (const system of input.systems) {
    latencyProbes[system.name] = rounds
      .filter((r) => r.system === system.name)
      .map((r) => ({ samplesMs: r.latency.samplesMs.map((v) => round(v)), timeouts: r.latency.timeouts }));
  }
  const drainChecks = rounds.filter((r) => r.system === OURS).map((r) => r.drainCheck);
  const leaseDrainChecks = rounds.filter((r) => r.system === OURS && r.leaseDrainCheck).map((r) => r.leaseDrainCheck);

  let history: BenchReport["history"] = null;
  if (input.history) {
    const { drains, emptyDrains, ...rest } = input.history;
    const runs = drains.map((d) => round(d.jobsPerSecond));
    const emptyRuns = emptyDrains.map((d) => round(d.jobsPerSecond));
    const ratio = median(runs) / median(emptyRuns);
    history = { ...rest, runs, median: round(median(runs)), emptyRuns, emptyMedian: round(median(emptyRuns)), ratio: round(ratio, 3) };
  }

  const report: BenchReport = {
    format: 1,
    timestamp: new Date().toISOString(),
    quick: settings.quick,
    durationSeconds: round((Date.now() - input.startedAt) / 1000, 1),
    machine: input.machine,
    settings,
    systems: Object.fromEntries(input.systems.map((s) => [s.name, { version: s.version, configuration: s.configuration }])),
    workloads,
    latencyProbes,
    drainChecks,
    leaseDrainChecks,
    history,
    memory: input.memory,
    cloudTasks: input.cloudTasks,
    goals: [],
    allMeasuredGoalsHold: false,
  };
  report.goals = evaluateGoals(report);
  report.allMeasuredGoalsHold = report.goals.every((goal) => goal.holds !== false);
  return report;
}

function atLeast(ratio: number | undefined, target: number): boolean | null {
  return ratio === undefined || !Number.isFinite(ratio) ? null : ratio >= target;
}

/** The goals of issue 6, each as a ratio measured in this run. */
function evaluateGoals(report: BenchReport): Goal[] {
  const w = report.workloads;
  const drainRecorded = report.drainChecks.length > 0 && report.drainChecks.every((check) => check?.ok === true);
  const drainRatio = w.drain.ratios["graphile-worker"];
  const latencyRatio = w.idleLatencyP50.ratios["graphile-worker"];
  const goals: Goal[] = [
    {
      id: "drain",
      description: "drain throughput vs graphile-worker, recording every task's status, timestamps and return value",
      ratio: drainRatio ?? null,
      target: ">= 1.20x",
      holds: drainRatio === undefined ? null : drainRecorded && drainRatio >= 1.2,
      detail:
        report.drainChecks.length === 0
          ? undefined
          : drainRecorded
            ? "every drained task verified SUCCESSFUL with times and return value"
            : "drained tasks NOT all recorded (see drainChecks)",
    },
    {
      id: "bulkEnqueue",
      description: "bulk enqueue vs graphile-worker",
      ratio: w.bulkEnqueue.ratios["graphile-worker"] ?? null,
      target: ">= 1.00x",
      holds: atLeast(w.bulkEnqueue.ratios["graphile-worker"], 1.0),
    },
    {
      id: "singleEnqueue",
      description: "single enqueue vs graphile-worker",
      ratio: w.singleEnqueue.ratios["graphile-worker"] ?? null,
      target: ">= 0.95x",
      holds: atLeast(w.singleEnqueue.ratios["graphile-worker"], 0.95),
    },
    {
      id: "idleLatency",
      description: "idle latency p50 (enqueue to start, other process) vs graphile-worker",
      ratio: latencyRatio ?? null,
      target: "<= 1.00x",
      holds: latencyRatio === undefined ? null : latencyRatio <= 1.0,
    },
  ];
  if (report.history) {
    const h = report.history;
    goals.push({
      id: "history",
      description: `drain with ${h.finishedRows.toLocaleString("en-US")} finished rows vs empty table (paired); claim plan uses database_task_claim_idx`,
      ratio: h.ratio,
      target: ">= 0.90x and index scan",
      holds: h.ratio >= 0.9 && h.explain.usesClaimIndex && h.drainChecks.every((check) => check.ok),
      detail: h.explain.usesClaimIndex ? "claim plan uses database_task_claim_idx" : "claim plan does NOT use database_task_claim_idx",
    });
  }
  if (report.memory) {
    const m = report.memory;
    goals.push({
      id: "memory",
      description: `worker RSS after ${m.tasks.toLocaleString("en-US")} tasks vs after ${m.baselineTasks.toLocaleString("en-US")}`,
      ratio: round(m.ratio, 3),
      target: "<= 1.20x",
      holds: m.ratio <= 1.2,
      detail:
        `${formatBytes(m.rssAfterBaseline)} -> ${formatBytes(m.rssAfterAll)}` +
        (m.reducedFrom ? ` (run shortened from ${m.reducedFrom.toLocaleString("en-US")} tasks to fit the time limit)` : ""),
    });
  }
  goals.push({
    id: "cloudTasks",
    description: "Cloud Tasks path: enqueue rate via the backend (emulator), execute endpoint req/s with OIDC on",
    ratio:
      report.cloudTasks.status === "measured"
        ? round(report.cloudTasks.executeWithOidcPerSecond / report.cloudTasks.executeWithoutOidcPerSecond, 3)
        : null,
    target: "reported (ratio: execute with OIDC / without)",
    holds: report.cloudTasks.status === "measured" ? true : null,
    detail:
      report.cloudTasks.status === "measured"
        ? `enqueue ${Math.round(report.cloudTasks.enqueuePerSecond)}/s (row + Cloud Task); execute ${Math.round(report.cloudTasks.executeWithOidcPerSecond)} req/s with OIDC, ` +
          `${Math.round(report.cloudTasks.executeWithoutOidcPerSecond)} req/s without`
        : report.cloudTasks.note,
  });
  return goals;
}

/* ----- printing ----- */

function table(headers: string[], rows: string[][], alignLeft = 1): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    "  " + cells.map((cell, i) => (i < alignLeft ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  return [line(headers), "  " + widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function ratioText(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? "n/a" : `${ratio.toFixed(2)}x`;
}

export function formatReport(report: BenchReport): string {
  const out: string[] = [];
  const rounds = report.settings.rounds;
  for (const workload of Object.values(report.workloads)) {
    if (Object.keys(workload.systems).length === 0) continue; // side-by-side rounds not run
    const direction = workload.higherIsBetter ? "higher is better; ours/peer > 1 = ours ahead" : "lower is better; ours/peer < 1 = ours ahead";
    out.push(`\n${workload.title} (${workload.unit}, ${direction})`);
    const headers = ["system", ...Array.from({ length: rounds }, (_, i) => `round ${i + 1}`), "median", "ours/peer"];
    const rows = Object.entries(workload.systems).map(([name, figures]) => [
      name,
      ...Array.from({ length: rounds }, (_, i) => formatNumber(figures!.runs[i] ?? Number.NaN)),
      formatNumber(figures!.median),
      name === OURS ? "" : ratioText(workload.ratios[name as SystemName]),
    ]);
    // Measured for this project alone: its ratios are against the peers' rows of another workload.
    if (!(PEERS[0] in workload.systems)) {
      for (const peer of PEERS) if (workload.ratios[peer] !== undefined) rows.push([`vs ${peer}`, ...Array(rounds + 1).fill(""), ratioText(workload.ratios[peer])]);
    }
    out.push(table(headers, rows));
  }

  if (Object.values(report.latencyProbes).some((probes) => probes!.length > 0)) {
    out.push("\nidle latency probes per round (started/timed out)");
    for (const [name, probes] of Object.entries(report.latencyProbes)) {
      out.push(`  ${name.padEnd(16)} ${probes!.map((p) => `${p.samplesMs.length}/${p.timeouts}`).join("  ")}`);
    }
  }

  for (const [i, check] of report.drainChecks.entries()) {
    if (!check) continue;
    out.push(
      `database-task drain check, round ${i + 1}: ${check.ok ? "OK" : "FAILED"} ` +
        `(total ${check.total}, SUCCESSFUL ${check.successful}, timestamped ${check.timestamped}, return value ${check.returnValueRecorded})`,
    );
  }
  const leaseChecks = report.leaseDrainChecks.filter((check) => check !== undefined);
  if (leaseChecks.length > 0) {
    const failed = leaseChecks.filter((check) => !check.ok).length;
    out.push(`database-task drain checks with claimMode "lease": ${failed === 0 ? `OK in all ${leaseChecks.length}` : `FAILED in ${failed} of ${leaseChecks.length}`}`);
  }

  if (report.history) {
    const h = report.history;
    out.push(`\ndatabase-task with ${h.finishedRows.toLocaleString("en-US")} finished rows in the table (table ${h.tableSize})`);
    out.push("drain jobs/s; each round drains both tables, one right after the other");
    out.push(
      table(
        ["table", ...h.runs.map((_, i) => `round ${i + 1}`), "median", "ratio"],
        [
          ["empty", ...h.emptyRuns.map(formatNumber), formatNumber(h.emptyMedian), ""],
          [`${h.finishedRows.toLocaleString("en-US")} finished rows`, ...h.runs.map(formatNumber), formatNumber(h.median), ratioText(h.ratio)],
        ],
      ),
    );
    const failedChecks = h.drainChecks.filter((check) => !check.ok).length;
    out.push(`  every drained task recorded: ${failedChecks === 0 ? "OK" : `FAILED in ${failedChecks} drain(s)`}`);
    out.push(`\nclaim statement (${h.explain.statementSource}):\n  ${h.explain.statement}`);
    out.push(`EXPLAIN (ANALYZE, BUFFERS), rolled back, with ${(report.settings.bulkCalls * report.settings.bulkSize).toLocaleString("en-US")} READY tasks waiting:`);
    out.push(h.explain.plan.split("\n").map((line) => `  ${line}`).join("\n"));
  }

  if (report.memory) {
    const m = report.memory;
    out.push(
      `\ndatabase-task worker RSS: ${formatBytes(m.rssAfterBaseline)} after ${m.baselineTasks.toLocaleString("en-US")} tasks, ` +
        `${formatBytes(m.rssAfterAll)} after ${m.tasks.toLocaleString("en-US")} (${ratioText(m.ratio)}, ${m.seconds.toFixed(0)} s); ` +
        `V8 heap after a full GC ${formatBytes(m.heapAfterGcAfterBaseline)} -> ${formatBytes(m.heapAfterGcAfterAll)}`,
    );
    const step = Math.max(1, Math.ceil(m.trace.length / 10));
    const points = m.trace.filter((_, i) => i % step === 0 || i === m.trace.length - 1);
    out.push(`  along the way (tasks: RSS / heap MiB): ${points.map((p) => `${p.handled}: ${(p.rss / 2 ** 20).toFixed(0)}/${(p.heapUsed / 2 ** 20).toFixed(0)}`).join(", ")}`);
  }

  const ct = report.cloudTasks;
  out.push(
    ct.status === "measured"
      ? `\nCloud Tasks path (emulator, ${ct.tasks} tasks, ${ct.clients} clients): enqueue ${Math.round(ct.enqueuePerSecond)}/s through the cloudtasks backend ` +
          `(plain database single enqueue above); execute endpoint ${Math.round(ct.executeWithOidcPerSecond)} req/s with OIDC verification, ` +
          `${Math.round(ct.executeWithoutOidcPerSecond)} req/s without`
      : `\nCloud Tasks path: ${ct.status} (${ct.note})`,
  );

  out.push("\ngoals (issue 6)");
  out.push(
    table(
      ["goal", "measured", "target", "result"],
      report.goals.map((g) => [g.description, ratioText(g.ratio), g.target, g.holds === null ? "NOT MEASURED" : g.holds ? "PASS" : "FAIL"]),
    ),
  );
  for (const goal of report.goals) if (goal.detail) out.push(`  ${goal.id}: ${goal.detail}`);
  return out.join("\n");
}

/** database-task's medians against a previous results file, when there is one. */
export function formatComparison(report: BenchReport, previous: BenchReport): string {
  const rows: string[][] = [];
  for (const [id, workload] of Object.entries(report.workloads)) {
    const before = previous.workloads?.[id as WorkloadId]?.systems?.[OURS]?.median;
    const after = workload.systems[OURS]?.median;
    if (before === undefined || after === undefined) continue;
    rows.push([workload.title, formatNumber(before), formatNumber(after), ratioText(after / before)]);
  }
  if (rows.length === 0) return "";
  return `\ndatabase-task against the previous results (${previous.timestamp}${previous.quick ? ", quick run" : ""})\n` + table(["workload", "previous", "now", "now/prev"], rows);
}
