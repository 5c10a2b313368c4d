import { describe, expect, it } from "vitest";
import { summarizeDistribution } from "./distribution-summary.js";

describe("summarizeDistribution", () => {
  it("gives exact mean, min and max, and percentiles within 0.1%", () => {
    const values = Array.from({ length: 1000 }, (_, index) => (index + 1) * 0.5);
    const summary = summarizeDistribution(values);
    expect(summary.count).toBe(1000);
    expect(summary.mean).toBeCloseTo(250.25, 9);
    expect(summary.min).toBe(0.5);
    expect(summary.max).toBe(500);
    expect(summary.p50!).toBeGreaterThanOrEqual(250 * 0.999);
    expect(summary.p50!).toBeLessThanOrEqual(250 * 1.001);
    expect(Math.abs(summary.p90! - 450) / 450).toBeLessThan(0.001);
    expect(Math.abs(summary.p99! - 495) / 495).toBeLessThan(0.001);
  });

  it("never reports a percentile above the maximum, and is all null when empty", () => {
    const summary = summarizeDistribution([1000.4]);
    expect(summary.p99).toBeLessThanOrEqual(1000.4);
    expect(summarizeDistribution([Number.NaN, -1])).toEqual({
      count: 0,
      mean: null,
      min: null,
      p50: null,
      p90: null,
      p99: null,
      max: null,
    });
  });
});
