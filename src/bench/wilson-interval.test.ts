import { describe, expect, it } from "vitest";
import { wilsonInterval } from "./wilson-interval.js";

describe("wilsonInterval", () => {
  // The worked examples of Newcombe (1998), Table II, method 3 (score interval without continuity correction).
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    [29, 29, 0.883, 1],
  ])("%i of %i gives [%f, %f] (Newcombe 1998)", (successes, trials, lower, upper) => {
    const interval = wilsonInterval(successes, trials);
    expect(interval.lower).toBeCloseTo(lower, 4);
    expect(interval.upper).toBeCloseTo(upper, 4);
  });

  it("is [0, 1] without trials, symmetric around one half, and narrower with more trials", () => {
    expect(wilsonInterval(0, 0)).toEqual({ lower: 0, upper: 1 });
    const half = wilsonInterval(5, 10);
    expect(half.lower + half.upper).toBeCloseTo(1, 12);
    const more = wilsonInterval(50, 100);
    expect(more.upper - more.lower).toBeLessThan(half.upper - half.lower);
  });

  it("takes another confidence level and refuses impossible counts", () => {
    const z99 = wilsonInterval(8, 10, { z: 2.5758293035489 });
    const z95 = wilsonInterval(8, 10);
    expect(z99.lower).toBeLessThan(z95.lower);
    expect(() => wilsonInterval(11, 10)).toThrow(RangeError);
    expect(() => wilsonInterval(1.5, 10)).toThrow(RangeError);
    expect(() => wilsonInterval(0, -1)).toThrow(RangeError);
  });
});
