/** The values a number field accepts; each bound is optional. */
export interface NumberRange {
  /** The smallest value accepted. */
  min?: number;
  /** An exclusive minimum: values must be greater than it (a budget or an expiry of 0 means nothing). */
  above?: number;
  /** The largest value accepted. */
  max?: number;
  /** Accept whole numbers only. Defaults to false. */
  isInteger?: boolean;
}

/**
 * Reads a form's number field: `undefined` when it is empty (blank), else the number it holds.
 *
 * @param name - The field as the error message names it, capitalised ("Max tokens").
 * @throws {Error} with a message for people naming the field when the text is not a finite number, not a whole number
 *   where one is asked for, or out of `range`.
 */
export function readNumber(text: string, name: string, range: NumberRange = {}): number | undefined {
  if (text.trim() === "") return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || (range.isInteger && !Number.isInteger(value)))
    throw new Error(`${name} must be ${range.isInteger ? "a whole number" : "a number"}.`);
  if (range.min !== undefined && value < range.min) throw new Error(`${name} must be at least ${range.min}.`);
  if (range.above !== undefined && value <= range.above) throw new Error(`${name} must be more than ${range.above}.`);
  if (range.max !== undefined && value > range.max) throw new Error(`${name} must be at most ${range.max}.`);
  return value;
}
