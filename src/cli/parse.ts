import { InvalidArgumentError } from "commander";
import { parseSwitch } from "../util/switch-value.js";

/**
 * Parses a whole number flag value.
 *
 * @throws {InvalidArgumentError} when `value` is not a whole number.
 */
export function parseInteger(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`'${value}' is not a whole number.`);
  return Number.parseInt(value, 10);
}

/**
 * Parses an on/off flag value (`on`/`off`, also `true`/`false`, `yes`/`no`, `1`/`0`; see {@link parseSwitch}).
 *
 * @throws {InvalidArgumentError} for anything else.
 */
export function parseOnOff(value: string): boolean {
  const parsed = parseSwitch(value);
  if (parsed === undefined) throw new InvalidArgumentError(`expected on or off, got '${value}'`);
  return parsed;
}

/**
 * Parses `--model [NAME=]PATH`. A Windows drive letter (`C:\…`) or a path with `=` only after a slash is taken as a path.
 *
 * @throws {InvalidArgumentError} when the path is empty.
 */
export function parseModelSpec(value: string): { path: string; id?: string } {
  const match = /^([^=/\\]+)=(.+)$/.exec(value);
  const spec = match ? { id: match[1]!, path: match[2]! } : { path: value };
  if (spec.path.trim().length === 0) throw new InvalidArgumentError("the model path is empty.");
  return spec;
}
