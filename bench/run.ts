/**
 * `npm run bench`: this project, graphile-worker and pg-boss side by side on
 * the same local PostgreSQL, one system at a time (rounds interleaved), with
 * the goals of issue 6 evaluated as ratios. Prints tables and writes
 * bench/results/latest.json. `BENCH_QUICK=1` for a smoke run (written to
 * bench/results/quick.json instead); `BENCH_ONLY=side-by-side,history,memory`
 * (any of them) runs only those parts and writes nothing.
 *
 * Everything it creates (databases bench_*, worker processes) it removes
 * again, also on failure and Ctrl-C.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadSettings, PARTS, SERVER_URL, type Part } from "./config.ts";
import { DatabaseManager } from "./postgres.ts";
import { buildReport, formatComparison, formatReport, machineInfo, type BenchReport } from "./report.ts";
import { loadSystem, SYSTEM_NAMES, type QueueSystem } from "./systems/system.ts";
import { formatBytes, formatNumber, now } from "./util.ts";
import { killAllWorkers } from "./worker-process.ts";
import { cloudTasksPath, historyDrain, leaseModeDrain, sideBySideRound, workerMemory, type HistoryResult, type MemoryResult, type RoundResult } from "./workloads.ts";

const settings = loadSettings();
/** A full run writes latest.json; a quick smoke run its own file, so it never replaces the full figures. */
const RESULTS_FILE = new URL(settings.quick ? "./results/quick.json" : "./results/latest.json", import.meta.url);
const RESULTS_NAME = settings.quick ? "bench/results/quick.json" : "bench/results/latest.json";
/** The issue's limit for the whole run, and what the memory phase leaves free for the rest. */
const TIME_LIMIT_SECONDS = 600;
const RESERVE_SECONDS = 40;

const databases = new DatabaseManager(SERVER_URL);
const startedAt = Date.now();
const log = (line: string) => console.log(line);

let cleaningUp: Promise<void> | null = null;
function cleanUp(): Promise<void> {
  cleaningUp ??= (async () => {
    killAllWorkers();
    await databases.dropAll();
  })();
  return cleaningUp;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, removing the benchmark's worker processes and databases...\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}

function describeSettings(): string {
  const s = settings;
  return [
    `${s.quick ? "QUICK smoke run" : "full run"}: ${s.rounds} round(s) per system, worker with ${s.concurrency} slots in its own process`,
    `  single enqueue ${s.singleCount} jobs (+${s.singleWarmup} warm-up), bulk ${s.bulkCalls} x ${s.bulkSize}, drain ${s.bulkCalls * s.bulkSize}, ` +
      `idle latency up to ${s.latencySamples} probes or ${s.latencyBudgetMs / 1000} s per round, backstop poll ${s.pollSeconds} s for every system`,
    `  database-task only: drain with ${s.historyRows.toLocaleString("en-US")} finished rows (${s.historyRounds} round(s)), ` +
      `worker RSS after ${s.memoryBaselineTasks.toLocaleString("en-US")} and ${s.memoryTasks.toLocaleString("en-US")} tasks`,
  ].join("\n");
}

/**
 * The memory phase runs `memoryTasks` through one worker, at the drain rate
 * measured so far. On a machine too slow (or too busy) for that within the
 * time limit, it runs fewer, and the report says so.
 */
function fitMemoryTasks(rounds: RoundResult[], history: HistoryResult | null): number {
  const drains = [...rounds.filter((r) => r.system === "database-task").map((r) => r.drain), ...(history?.drains ?? []), ...(history?.emptyDrains ?? [])];
  if (drains.length === 0) return settings.memoryTasks; // run on its own: nothing to estimate from
  const rate = Math.min(...drains.map((d) => d.jobsPerSecond));
  const estimateSeconds = (tasks: number) => 5 + tasks / rate + tasks / 40_000; // start-up + drain + enqueue
  const left = TIME_LIMIT_SECONDS - RESERVE_SECONDS - (Date.now() - startedAt) / 1000;
  let tasks = settings.memoryTasks;
  while (tasks > settings.memoryBaselineTasks * 2 && estimateSeconds(tasks) > left) tasks -= settings.memoryBaselineTasks;
  if (tasks < settings.memoryTasks) {
    log(`  (${settings.memoryTasks.toLocaleString("en-US")} tasks would not fit in the ${TIME_LIMIT_SECONDS / 60}-minute limit at ${Math.round(rate)} jobs/s; running ${tasks.toLocaleString("en-US")})`);
  }
  return tasks;
}

async function main(): Promise<void> {
  const machine = machineInfo(await databases.serverVersion());
  log(`database-task benchmark, ${new Date().toISOString()}`);
  log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${formatBytes(machine.memoryBytes)}, ${machine.os}, ` +
      `Node ${machine.node}, PostgreSQL ${machine.postgres}, load average ${machine.loadAverageAtStart.join(" ")}`,
  );
  if (machine.loadAverageAtStart[0] > machine.cores / 2) {
    log(`note: the machine is busy (load ${machine.loadAverageAtStart[0]} on ${machine.cores} cores); expect noisy figures. Ratios are fairer than absolutes: rounds are interleaved.`);
  }
  log(describeSettings());

  const systems: QueueSystem[] = [];
  for (const name of SYSTEM_NAMES) systems.push(await loadSystem(name));
  for (const system of systems) {
    log(`${system.name} ${system.version}`);
    for (const [key, value] of Object.entries(system.configuration)) log(`  ${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }

  const rounds: RoundResult[] = [];
  const runs = (part: Part) => settings.parts.includes(part);
  for (let round = 0; runs("side-by-side") && round < settings.rounds; round++) {
    // Rotate the order each round so no system always runs first (or last).
    const order = systems.map((_, i) => systems[(i + round) % systems.length]);
    for (const system of order) {
      const t = now();
      const result = await sideBySideRound(databases, system, settings);
      rounds.push(result);
      log(
        `round ${round + 1} ${system.name.padEnd(15)} single ${formatNumber(result.single.jobsPerSecond)}/s, ` +
          `bulk ${formatNumber(result.bulk.jobsPerSecond)}/s, drain ${formatNumber(result.drain.jobsPerSecond)}/s, ` +
          `idle p50 ${formatNumber(result.latency.p50)} ms (${result.latency.samplesMs.length} probes` +
          `${result.latency.timeouts ? `, ${result.latency.timeouts} timed out` : ""})` +
          `${result.drainCheck ? `, recorded ${result.drainCheck.ok ? "OK" : "FAILED"}` : ""} [${((now() - t) / 1000).toFixed(1)} s]`,
      );
      if (system.name === "database-task") {
        const lease = await leaseModeDrain(databases, settings);
        result.leaseDrain = lease.result;
        result.leaseDrainCheck = lease.check;
        log(`round ${round + 1} ${system.name.padEnd(15)} drain with claimMode "lease" ${formatNumber(lease.result.jobsPerSecond)}/s, recorded ${lease.check.ok ? "OK" : "FAILED"}`);
      }
    }
  }

  let history: HistoryResult | null = null;
  if (runs("history")) {
    log("database-task: drain with history in the table...");
    history = await historyDrain(databases, settings, log);
  }
  let memory: MemoryResult | null = null;
  if (runs("memory")) {
    const memoryTasks = fitMemoryTasks(rounds, history);
    log(`database-task: worker memory over ${memoryTasks.toLocaleString("en-US")} tasks...`);
    memory = await workerMemory(databases, { ...settings, memoryTasks });
    if (memoryTasks < settings.memoryTasks) memory.reducedFrom = settings.memoryTasks;
  }
  log("database-task: Cloud Tasks path against the emulator...");
  const cloudTasks = await cloudTasksPath(databases, settings);

  machine.loadAverageAtEnd = machineInfo(machine.postgres).loadAverageAtStart;
  const report = buildReport({ startedAt, machine, settings, systems, rounds, history, memory, cloudTasks });
  log(formatReport(report));

  if (settings.parts.length < PARTS.length) {
    log(`\npartial run (BENCH_ONLY=${settings.parts.join(",")}): ${RESULTS_NAME} left as it was (${report.durationSeconds} s in all)`);
    return;
  }
  const previous = existsSync(RESULTS_FILE) ? (JSON.parse(readFileSync(RESULTS_FILE, "utf8")) as BenchReport) : null;
  if (previous) log(formatComparison(report, previous));
  mkdirSync(new URL("./", RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  log(`\nwrote ${RESULTS_NAME} (${report.durationSeconds} s in all; load average at the end ${machine.loadAverageAtEnd.join(" ")})`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
