import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gbnfExpressionToRegExp } from "../../../test/helpers/gbnf-regexp.js";
import { integerRange, integerRangeGrammar } from "./integer-range-grammar.js";

const limit = 10n ** 16n - 1n;
/** Bounds biased towards the interesting places: small numbers, powers of ten, and the 16-digit edge. */
const bound = fc.oneof(
  fc.bigInt({ min: -limit, max: limit }),
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.integer({ min: 0, max: 16 }).chain((power) =>
    fc.tuple(fc.constantFrom(-1n, 0n, 1n), fc.boolean()).map(([offset, negative]) => {
      const value = 10n ** BigInt(power) + offset;
      const clamped = value > limit ? limit : value;
      return negative ? -clamped : clamped;
    }),
  ),
);
const range = fc.tuple(bound, bound).map(([a, b]) => (a <= b ? { min: a, max: b } : { min: b, max: a }));

describe("integerRangeGrammar (issue 18)", () => {
  it("admits every integer in the range and none outside it, written as JSON writes integers (property)", () => {
    fc.assert(
      fc.property(range, fc.array(fc.bigInt({ min: -limit, max: limit }), { maxLength: 20 }), (bounds, others) => {
        const matches = gbnfExpressionToRegExp(integerRangeGrammar(bounds));
        const span = bounds.max - bounds.min;
        const inside = [bounds.min, bounds.max, bounds.min + span / 2n, bounds.min + span / 3n, bounds.max - span / 7n];
        for (const value of inside) expect(matches.test(value.toString()), `${value} in ${bounds.min}..${bounds.max}`).toBe(true);
        for (const value of [...others, bounds.min - 1n, bounds.max + 1n]) {
          const isInside = value >= bounds.min && value <= bounds.max;
          expect(matches.test(value.toString()), `${value} against ${bounds.min}..${bounds.max}`).toBe(isInside);
        }
        // No other spelling of an integer: leading zeros, -0, a plus sign, an exponent.
        for (const text of ["00", "-0", "+1", "1e1", `0${bounds.max < 0n ? -bounds.max : bounds.max}`]) {
          expect(matches.test(text), text).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("admits exactly the integers of small ranges, checked value by value", () => {
    for (const [min, max] of [
      [0n, 0n],
      [-5n, 5n],
      [7n, 123n],
      [-1000n, -99n],
      [99n, 1001n],
    ] as const) {
      const matches = gbnfExpressionToRegExp(integerRangeGrammar({ min, max }));
      for (let value = -1100n; value <= 1100n; value++) expect(matches.test(value.toString())).toBe(value >= min && value <= max);
    }
  });

  it("reads JSON Schema bounds: inclusive, exclusive, fractional, past 16 digits, and empty", () => {
    expect(integerRange({})).toEqual({ min: -limit, max: limit });
    expect(integerRange({ minimum: -9007199254740991, maximum: 9007199254740991 })).toEqual({
      min: -9007199254740991n,
      max: 9007199254740991n,
    });
    expect(integerRange({ exclusiveMinimum: 0 })).toEqual({ min: 1n, max: limit });
    expect(integerRange({ exclusiveMinimum: 0.5, exclusiveMaximum: 3 })).toEqual({ min: 1n, max: 2n });
    expect(integerRange({ minimum: 1.2, maximum: 4.8 })).toEqual({ min: 2n, max: 4n });
    expect(integerRange({ minimum: -1e300, maximum: 1e300 })).toEqual({ min: -limit, max: limit });
    expect(integerRange({ minimum: 1.2, maximum: 1.8 })).toBeUndefined();
    expect(integerRange({ minimum: 1e20 })).toBeUndefined();
    expect(integerRange({ exclusiveMaximum: -1e16 })).toBeUndefined();
    expect(integerRange({ minimum: 5, exclusiveMaximum: 5 })).toBeUndefined();
  });

  it("stays small for zod's safe-integer bounds (a few kilobytes) and builds in well under a millisecond", () => {
    const started = performance.now();
    const grammar = integerRangeGrammar({ min: -9007199254740991n, max: 9007199254740991n });
    expect(performance.now() - started).toBeLessThan(50);
    expect(grammar.length).toBeLessThan(4000);
  });
});
