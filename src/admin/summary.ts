import { TASK_STATUSES, type TaskStatus } from "../task/result.ts";
import type { SummaryGroup, TaskFilter } from "./queries.ts";

function inScope(group: SummaryGroup, filter: Pick<TaskFilter, "queue" | "backend">): boolean {
  return (filter.queue === null || group.queue === filter.queue) && (filter.backend === null || group.backend === filter.backend);
}

/** Counts per status within the chosen queue and backend, so the header answers "is this queue healthy?". */
export function statusCounts(groups: SummaryGroup[], filter: Pick<TaskFilter, "queue" | "backend">): Record<TaskStatus, number> {
  const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const group of groups) if (inScope(group, filter) && group.status in counts) counts[group.status] += group.count;
  return counts;
}

/** Tasks matching the filters; unknown (null) under a search, which the groups cannot answer. */
export function matchingTotal(groups: SummaryGroup[], filter: TaskFilter): number | null {
  if (filter.search) return null;
  let total = 0;
  for (const group of groups) if (inScope(group, filter) && (filter.status === null || group.status === filter.status)) total += group.count;
  return total;
}

export function distinctQueues(groups: SummaryGroup[]): string[] {
  return [...new Set(groups.map((g) => g.queue))].sort();
}

/** Backends holding tasks, and the configured ones even while empty. */
export function distinctBackends(groups: SummaryGroup[], configured: string[]): string[] {
  return [...new Set([...configured, ...groups.map((g) => g.backend)])].sort();
}
