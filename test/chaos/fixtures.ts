/** Tasks of the in-process chaos tests (the Cloud Tasks handler runs in the test process). */
import { task, type TaskContext } from "../../src/index.ts";

/** How many times the handler ran each task's body, by task id. */
export const executions = new Map<string, number>();

export const counted = task(
  async function counted(context: TaskContext, ms: number) {
    const id = context.taskResult.id;
    executions.set(id, (executions.get(id) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return ms;
  },
  { name: "chaos.counted", takesContext: true },
);
