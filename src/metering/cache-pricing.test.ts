import { describe, expect, it } from "vitest";
import { costMicroUsd, defaultCacheRatesPercent, worstCaseCostMicroUsd } from "./cost.js";
import { createPriceBook, type PriceTier, type ResolvedPrice } from "./price-book.js";

/** $1 per 1M input tokens, $2 per 1M output tokens, no cache prices given. */
const plain: ResolvedPrice = {
  model: "m",
  tiers: [{ inputMicroUsdPerMillionTokens: 1_000_000, outputMicroUsdPerMillionTokens: 2_000_000 }],
};
const counts = (extra: Partial<Parameters<typeof costMicroUsd>[1]> = {}) => ({
  promptTokens: 1_000_000,
  cachedPromptTokens: 0,
  completionTokens: 0,
  reasoningTokens: 0,
  ...extra,
});

describe("cached-token pricing (Model Studio's context cache terms)", () => {
  it("bills implicit-cache hits at 20% of the input price when the tier gives no cached price", () => {
    expect(defaultCacheRatesPercent).toEqual({ implicitHit: 20, explicitCreation: 125, explicitHit: 10 });
    expect(costMicroUsd(plain, counts({ cachedPromptTokens: 1_000_000 }))).toBe(200_000);
    // 600k uncached at $1 + 400k cached at $0.20.
    expect(costMicroUsd(plain, counts({ cachedPromptTokens: 400_000 }))).toBe(600_000 + 80_000);
  });

  it("bills explicit-cache creation at 125% and hits at 10% by default, the rest of the prompt at the input price", () => {
    expect(costMicroUsd(plain, counts({ cacheCreationInputTokens: 1_000_000 }))).toBe(1_250_000);
    expect(costMicroUsd(plain, counts({ cacheReadInputTokens: 1_000_000 }))).toBe(100_000);
    // 300k read ($0.03), 500k created ($0.625), 200k plain ($0.20), 1k output ($0.002).
    expect(costMicroUsd(plain, counts({ cacheReadInputTokens: 300_000, cacheCreationInputTokens: 500_000, completionTokens: 1_000 }))).toBe(
      30_000 + 625_000 + 200_000 + 2_000,
    );
  });

  it("reserves a request that may write to the explicit cache at the creation rate, so that a budget is never passed", () => {
    const request = { maxPromptTokens: 1_000_000, maxCompletionTokens: 1_000 };
    expect(worstCaseCostMicroUsd(plain, request)).toBe(1_000_000 + 2_000);
    expect(worstCaseCostMicroUsd(plain, { ...request, maxCacheCreationTokens: 1_000_000 })).toBe(1_250_000 + 2_000);
    // A creation price below the input price never lowers the reservation.
    const cheapCreation: ResolvedPrice = {
      model: "m",
      tiers: [{ ...plain.tiers[0]!, cacheCreationInputMicroUsdPerMillionTokens: 500_000 }],
    };
    expect(worstCaseCostMicroUsd(cheapCreation, { ...request, maxCacheCreationTokens: 1_000_000 })).toBe(1_000_000 + 2_000);
  });

  it("gives no implicit discount to a request that used the explicit cache (the two are mutually exclusive)", () => {
    expect(costMicroUsd(plain, counts({ cachedPromptTokens: 900_000, cacheReadInputTokens: 100_000 }))).toBe(10_000 + 900_000);
  });

  it("uses the tier's own cache prices when given", () => {
    const tier: PriceTier = {
      inputMicroUsdPerMillionTokens: 1_000_000,
      outputMicroUsdPerMillionTokens: 0,
      cachedInputMicroUsdPerMillionTokens: 500_000,
      cacheCreationInputMicroUsdPerMillionTokens: 2_000_000,
      cacheReadInputMicroUsdPerMillionTokens: 50_000,
    };
    const price: ResolvedPrice = { model: "m", tiers: [tier] };
    expect(costMicroUsd(price, counts({ cachedPromptTokens: 1_000_000 }))).toBe(500_000);
    expect(costMicroUsd(price, counts({ cacheCreationInputTokens: 1_000_000 }))).toBe(2_000_000);
    expect(costMicroUsd(price, counts({ cacheReadInputTokens: 1_000_000 }))).toBe(50_000);
  });

  it("rounds once per request, half up, with the percentages exact (3 tokens at $1/1M: 10% is 0.3 micro-USD)", () => {
    expect(costMicroUsd(plain, counts({ promptTokens: 3, cacheReadInputTokens: 3 }))).toBe(0);
    expect(costMicroUsd(plain, counts({ promptTokens: 4, cacheCreationInputTokens: 2 }))).toBe(5); // 2.5 + 2 = 4.5, half up
  });

  it("never bills more cached tokens than the prompt has", () => {
    expect(costMicroUsd(plain, counts({ promptTokens: 10, cacheReadInputTokens: 50, cacheCreationInputTokens: 50 }))).toBe(
      costMicroUsd(plain, counts({ promptTokens: 10, cacheReadInputTokens: 10 })),
    );
  });

  it("accepts the new optional price-book fields, and refuses negative ones", () => {
    const entry = {
      model: "local-m",
      kind: "local",
      effectiveFrom: "2026-01-01",
      tiers: [{ inputMicroUsdPerMillionTokens: 10, outputMicroUsdPerMillionTokens: 20, cacheReadInputMicroUsdPerMillionTokens: 1 }],
    };
    const book = createPriceBook({ version: 1, includeDefaults: false, prices: [entry] });
    expect(book.localPrice("local-m", Date.parse("2026-02-01")).tiers[0]!.cacheReadInputMicroUsdPerMillionTokens).toBe(1);
    const bad = { ...entry, tiers: [{ ...entry.tiers[0], cacheCreationInputMicroUsdPerMillionTokens: -1 }] };
    expect(() => createPriceBook({ version: 1, includeDefaults: false, prices: [bad] })).toThrow(
      /cacheCreationInputMicroUsdPerMillionTokens/,
    );
  });
});
