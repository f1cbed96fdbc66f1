import { task } from "../src/index.ts";

export const add = task(function add(a: number, b: number) {
  return a + b;
});

export const greet = task(
  async function greet(name: string) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    return `Hello, ${name}!`;
  },
  { queueName: "emails", priority: 10 },
);

export const flaky = task(function flaky(message: string) {
  throw new Error(`flaky failed: ${message}`);
});
