import { InvalidArgumentError } from "commander";

export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`must be a whole number${min === 0 ? " >= 0" : ` >= ${min}`}.`);
    const n = Number(value);
    if (n < min) throw new InvalidArgumentError(`must be ${min === 0 ? "0 or more" : `at least ${min}`}.`);
    if (n > max) throw new InvalidArgumentError(`must be at most ${max}.`);
    return n;
  };
}

export function positiveSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a number of seconds > 0.");
  return n;
}

/** Python prints floats with at least one decimal: 5 -> "5.0". */
export function pythonFloat(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}
