import { describe, expect, it } from "vitest";
import { estimateHostPowerWatts, thisMachinePower } from "../planner/machine-power.js";
import { priceRequest } from "./cost.js";
import { createPriceBook } from "./price-book.js";
import { defaultElectricityMicroUsdPerKwh, engineTimeMicros, resolveTimeRate, timeCostNanoUsd } from "./time-pricing.js";

const machine = { watts: 200, source: "test machine" };
const at = Date.parse("2026-06-01T00:00:00Z");
const tokens = { promptTokens: 12, cachedPromptTokens: 0, completionTokens: 3, reasoningTokens: 0 };

describe("time pricing of local requests", () => {
  it("takes the hourly cost from the price book, field by field over the defaults, and says when it is an estimate", () => {
    expect(resolveTimeRate({}, machine)).toMatchObject({
      hardwareMicroUsdPerHour: 0,
      watts: 200,
      microUsdPerKwh: defaultElectricityMicroUsdPerKwh,
      microUsdPerHour: 0.2 * defaultElectricityMicroUsdPerKwh,
      estimated: true,
      wattsSource: "test machine",
    });
    const configured = resolveTimeRate({ microUsdPerHour: 500_000, watts: 350, microUsdPerKwh: 300_000 }, machine);
    expect(configured).toMatchObject({ microUsdPerHour: 500_000 + 105_000, estimated: false, wattsSource: "configured" });
    // Power configured, electricity price left to its default: still an estimate.
    expect(resolveTimeRate({ watts: 350 }, machine).estimated).toBe(true);
  });

  it("prices engine time below the micro-USD, rounded up: a request that used the engine never costs 0", () => {
    expect(engineTimeMicros(0.0001)).toBe(1);
    expect(engineTimeMicros(0)).toBe(0);
    expect(timeCostNanoUsd(1, { microUsdPerHour: 1 })).toBe(1);
    // 1 s at $1/hour: 277,777.8 nano-USD, rounded up.
    expect(timeCostNanoUsd(1_000_000, { microUsdPerHour: 1_000_000 })).toBe(277_778);
    const book = createPriceBook({ version: 1, localTime: { watts: 1, microUsdPerKwh: 1 } });
    const cost = priceRequest(book, { model: "tiny", startedAtMs: at, ...tokens, engineTimeMs: 0.01 }, machine);
    expect(cost.costNanoUsd).toBeGreaterThan(0);
    expect(cost.costMicroUsd).toBe(1);
    expect(cost.costEstimated).toBe(false);
  });

  it("costs engine time × the hourly cost (a local entry's time over the book's localTime)", () => {
    const book = createPriceBook({
      version: 1,
      localTime: { microUsdPerHour: 360_000, watts: 100, microUsdPerKwh: 200_000 },
      prices: [{ model: "big", kind: "local", effectiveFrom: "2026-01-01", time: { microUsdPerHour: 3_600_000 } }],
    });
    // 380,000 micro-USD/hour = 105.56 nano-USD per ms.
    expect(priceRequest(book, { model: "small", startedAtMs: at, ...tokens, engineTimeMs: 1000 }, machine).costNanoUsd).toBe(105_556);
    // The entry's own hardware cost, the book's power and electricity: 3,620,000 micro-USD/hour.
    const big = priceRequest(book, { model: "big", startedAtMs: at, ...tokens, engineTimeMs: 1000 }, machine);
    expect(big).toMatchObject({
      costNanoUsd: 1_005_556,
      costMicroUsd: 1006,
      priceEffectiveAtMs: Date.parse("2026-01-01"),
      engineTimeUs: 1_000_000,
    });
  });

  it("lets an explicit tiers entry, or today's hourly entry, override time pricing", () => {
    const book = createPriceBook({
      version: 1,
      prices: [
        {
          model: "tiered",
          kind: "local",
          effectiveFrom: "2026-01-01",
          tiers: [{ inputMicroUsdPerMillionTokens: 1_000_000, outputMicroUsdPerMillionTokens: 2_000_000 }],
        },
        {
          model: "by-hand",
          kind: "local",
          effectiveFrom: "2026-01-01",
          hourly: { microUsdPerHour: 360_000, inputTokensPerSecond: 1000, outputTokensPerSecond: 100 },
        },
      ],
    });
    const tiered = priceRequest(book, { model: "tiered", startedAtMs: at, ...tokens, engineTimeMs: 60_000 }, machine);
    expect(tiered).toMatchObject({ costNanoUsd: 12_000 + 6_000, costMicroUsd: 18, costEstimated: false, engineTimeUs: 60_000_000 });
    // hourly: 100,000 micro-USD per 1M prompt tokens, 1,000,000 per 1M output tokens, as before.
    const byHand = priceRequest(book, { model: "by-hand", startedAtMs: at, ...tokens, engineTimeMs: 60_000 }, machine);
    expect(byHand).toMatchObject({ costNanoUsd: 1_200 + 3_000, costEstimated: false });
    expect(book.localPrice("by-hand", at).time).toBeUndefined();
    expect(book.localPrice("anything-else", at).time).toEqual({});
  });

  it("rejects a time entry beside tiers, and on a cloud model", () => {
    expect(() =>
      createPriceBook({
        version: 1,
        prices: [
          {
            model: "x",
            kind: "local",
            effectiveFrom: "2026-01-01",
            time: {},
            tiers: [{ inputMicroUsdPerMillionTokens: 1, outputMicroUsdPerMillionTokens: 1 }],
          },
        ],
      }),
    ).toThrow(/prices\.0\.tiers' give exactly one of tiers, hourly and time/);
    expect(() =>
      createPriceBook({ version: 1, prices: [{ model: "x", kind: "cloud", effectiveFrom: "2026-01-01", time: { watts: 1 } }] }),
    ).toThrow(/prices\.0\.time' time is for local models only/);
    expect(() => createPriceBook({ version: 1, localTime: { watts: -1 } })).toThrow(/localTime\.watts/);
  });

  it("estimates a host outside the catalog from its cores and memory, and takes a catalog GPU's typical power", () => {
    expect(estimateHostPowerWatts(2, 8 * 2 ** 30)).toBe(30 + 20 + 3);
    expect(thisMachinePower({ cpuName: "Some CPU", cores: 16, memoryBytes: 64 * 2 ** 30 })).toMatchObject({ watts: 30 + 160 + 24 });
    expect(thisMachinePower({ gpuDeviceNames: ["NVIDIA H100 80GB HBM3"] }).watts).toBe(700);
    expect(thisMachinePower({ gpuDeviceNames: ["Mystery GPU"] }).watts).toBe(320);
    expect(thisMachinePower({ cpuName: "Apple M3 Ultra" }).watts).toBe(300);
  });
});
