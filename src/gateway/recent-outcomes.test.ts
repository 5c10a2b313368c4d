import { describe, expect, it } from "vitest";
import { RecentOutcomes } from "./recent-outcomes.js";

describe("RecentOutcomes (an upstream's latest attempts)", () => {
  it("knows nothing before the first attempt", () => {
    expect(new RecentOutcomes().summary()).toEqual({ attempts: 0, errorRate: undefined, latencyP50Ms: undefined });
  });

  it("gives the failed share of the attempts held and the median of the latencies (mean of the middle two)", () => {
    const recent = new RecentOutcomes();
    for (const isFailure of [false, true, false, false]) recent.recordOutcome(isFailure);
    for (const latencyMs of [40, 10, 30, 20]) recent.recordLatency(latencyMs);
    expect(recent.summary()).toEqual({ attempts: 4, errorRate: 0.25, latencyP50Ms: 25 });
    recent.recordLatency(1000);
    expect(recent.summary().latencyP50Ms).toBe(30);
  });

  it("keeps only the last `size` of each: old failures and latencies leave the window", () => {
    const recent = new RecentOutcomes(3);
    for (const isFailure of [true, true, true, false, false]) recent.recordOutcome(isFailure);
    for (const latencyMs of [500, 500, 500, 10, 20, 30]) recent.recordLatency(latencyMs);
    expect(recent.summary()).toEqual({ attempts: 3, errorRate: 1 / 3, latencyP50Ms: 20 });
  });

  it("refuses a window that holds nothing", () => {
    expect(() => new RecentOutcomes(0)).toThrow(RangeError);
    expect(() => new RecentOutcomes(1.5)).toThrow(RangeError);
  });
});
