/**
 * The largest magnitude an integer of the grammar may have: 16 digits, as the integer rule every JSON-schema grammar
 * uses (`integerRuleBody` in `tool-call-grammar.ts`). zod 4's safe-integer bounds (±9,007,199,254,740,991) have 16
 * digits, so they fit; wider bounds are narrowed to it.
 */
const maxMagnitude = 10n ** 16n - 1n;

/** A closed range of integers, `min` ≤ `max`, both within ±(10^16 − 1). */
export interface IntegerRange {
  min: bigint;
  max: bigint;
}

/**
 * The integers a JSON schema's bounds allow (JSON Schema 2020-12 `minimum`, `maximum`, `exclusiveMinimum`,
 * `exclusiveMaximum`, each a number, fractional bounds included: `minimum: 0.5` allows 1 and up), narrowed to the 16
 * digits the grammar writes; `undefined` when no integer of at most 16 digits lies in them (`minimum: 1e20` too: the
 * grammar could only write integers below it). `Number(10n ** 16n - 1n)` rounds to 1e16, so a bound at or past it
 * counts as past.
 */
export function integerRange(schema: {
  minimum?: unknown;
  maximum?: unknown;
  exclusiveMinimum?: unknown;
  exclusiveMaximum?: unknown;
}): IntegerRange | undefined {
  let min = -maxMagnitude;
  let max = maxMagnitude;
  // A lower bound above the largest 16-digit integer (or an upper one below the smallest) leaves none the grammar writes.
  const limit = Number(maxMagnitude);
  if ([schema.minimum, schema.exclusiveMinimum].some((bound) => typeof bound === "number" && bound >= limit)) return undefined;
  if ([schema.maximum, schema.exclusiveMaximum].some((bound) => typeof bound === "number" && bound <= -limit)) return undefined;
  const clamp = (value: number) =>
    value > Number(maxMagnitude) ? maxMagnitude : value < -Number(maxMagnitude) ? -maxMagnitude : BigInt(value);
  if (isFiniteNumber(schema.minimum)) min = bigMax(min, clamp(Math.ceil(schema.minimum)));
  if (isFiniteNumber(schema.exclusiveMinimum)) min = bigMax(min, clamp(Math.floor(schema.exclusiveMinimum) + 1));
  if (isFiniteNumber(schema.maximum)) max = bigMin(max, clamp(Math.floor(schema.maximum)));
  if (isFiniteNumber(schema.exclusiveMaximum)) max = bigMin(max, clamp(Math.ceil(schema.exclusiveMaximum) - 1));
  return min <= max ? { min, max } : undefined;
}

/**
 * A GBNF expression (no rule references: literals, character ranges, groups and `{m,n}` repetitions only) that
 * matches exactly the JSON integers from `range.min` to `range.max`, written without leading zeros, exponent or `-0`.
 * The construction is llama.cpp's (`build_min_max_int` in `common/json-schema-to-grammar.cpp`): one branch per number of
 * digits, each split digit by digit where the bounds differ. Its size grows with the square of the digits, so zod's
 * safe-integer bounds give a few kilobytes of grammar.
 */
export function integerRangeGrammar(range: IntegerRange): string {
  const { min, max } = range;
  if (max < 0n) return `"-" (${nonNegativeRange(-max, -min)})`;
  if (min < 0n) return `"-" (${nonNegativeRange(1n, -min)}) | ${nonNegativeRange(0n, max)}`;
  return nonNegativeRange(min, max);
}

/** The integers `min` to `max` (0 ≤ `min` ≤ `max`): one {@link uniformRange} per number of digits. */
function nonNegativeRange(min: bigint, max: bigint): string {
  let from = min.toString();
  const to = max.toString();
  const branches: string[] = [];
  for (let digits = from.length; digits < to.length; digits++) {
    branches.push(uniformRange(from, "9".repeat(digits)));
    from = `1${"0".repeat(digits)}`;
  }
  branches.push(uniformRange(from, to));
  return branches.join(" | ");
}

/** The digit strings from `from` to `to`, both of the same length, `from` ≤ `to` (llama.cpp's `uniform_range`). */
function uniformRange(from: string, to: string): string {
  let common = 0;
  while (common < from.length && from[common] === to[common]) common++;
  const parts: string[] = [];
  if (common > 0) parts.push(`"${from.slice(0, common)}"`);
  if (common === from.length) return parts.join(" ");
  const first = from.charCodeAt(common) - 48;
  const last = to.charCodeAt(common) - 48;
  const restLength = from.length - common - 1;
  if (restLength === 0) {
    parts.push(digitRange(first, last));
    return parts.join(" ");
  }
  const fromRest = from.slice(common + 1);
  const toRest = to.slice(common + 1);
  const zeros = "0".repeat(restLength);
  const nines = "9".repeat(restLength);
  const anyRest = anyDigits(restLength);
  const branches: string[] = [];
  // The first digit at `first`: the rest from `fromRest` up (all of them when it is zeros).
  let nextFirst = first;
  if (fromRest === zeros) {
    nextFirst = first;
  } else {
    branches.push(`${digitRange(first, first)} (${uniformRange(fromRest, nines)})`);
    nextFirst = first + 1;
  }
  // The first digit strictly between: any rest; `last` too when the rest may go up to nines.
  const middleLast = toRest === nines ? last : last - 1;
  if (nextFirst <= middleLast) branches.push(`${digitRange(nextFirst, middleLast)} ${anyRest}`);
  if (toRest !== nines) branches.push(`${digitRange(last, last)} (${uniformRange(zeros, toRest)})`);
  parts.push(`(${branches.join(" | ")})`);
  return parts.join(" ");
}

function digitRange(from: number, to: number): string {
  return from === to ? `[${from}]` : `[${from}-${to}]`;
}

function anyDigits(count: number): string {
  return count === 1 ? "[0-9]" : `[0-9]{${count}}`;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
