/** Sample tasks for the demo (`npm run demo`). In your app, import from "database-task". */
import { task, type TaskContext } from "../src/index.ts";

export const add = task(function add(a: number, b: number) {
  return a + b;
});

export const sendWelcomeEmail = task(
  async function sendWelcomeEmail(userId: number, address: string) {
    await new Promise((resolve) => setTimeout(resolve, 20)); // pretend to talk to a mail server
    return `Email sent to ${address} (user ${userId})`;
  },
  { queueName: "emails", priority: 10 },
);

export const report = task(
  function report(context: TaskContext, title: string) {
    return { title, taskId: context.taskResult.id, attempt: context.attempt };
  },
  { takesContext: true },
);

export const chargeCard = task(function chargeCard(amountCents: number) {
  if (amountCents <= 0) throw new RangeError(`amount must be positive, got ${amountCents}`);
  return { charged: amountCents };
});
