export interface GlobalOptions {
  config?: string;
}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
