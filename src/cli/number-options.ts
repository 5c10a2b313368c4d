import { InvalidArgumentError } from "commander";

/**
 * Parses a number flag value (`0.6`, `1e-3`).
 *
 * @throws {InvalidArgumentError} when `value` is not a finite number.
 */
export function parseNumber(value: string): number {
  const number = Number(value.trim());
  if (value.trim() === "" || !Number.isFinite(number)) throw new InvalidArgumentError(`'${value}' is not a number.`);
  return number;
}

/**
 * Parses a whole number flag value of at least `min`.
 *
 * @throws {InvalidArgumentError} when `value` is not a whole number, or below `min`.
 */
export function parseWholeNumber(value: string, min: number): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`'${value}' is not a whole number.`);
  const number = Number.parseInt(value, 10);
  if (number < min) throw new InvalidArgumentError(`'${value}' is below ${min}.`);
  return number;
}

/**
 * Parses a comma-separated list of whole numbers ≥ 1 (`1,4,8`), in the order given, duplicates removed.
 *
 * @throws {InvalidArgumentError} when an item is not a whole number ≥ 1, or the list is empty.
 */
export function parseLevelList(value: string): number[] {
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
  if (items.length === 0) throw new InvalidArgumentError("the list is empty.");
  return [...new Set(items.map((item) => parseWholeNumber(item, 1)))];
}
