import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { costMicroUsd, costNanoUsd, defaultCacheRatesPercent, type TokenCounts } from "./cost.js";
import type { PriceTier, ResolvedPrice } from "./price-book.js";

/** The cost in hundredths of a micro-USD per million tokens, all in BigInt: the formula as cost.ts documents it. */
function referenceHundredths(tier: PriceTier, tokens: TokenCounts): bigint {
  const prompt = BigInt(tokens.promptTokens);
  const minOf = (a: bigint, b: bigint): bigint => (a < b ? a : b);
  const read = minOf(BigInt(tokens.cacheReadInputTokens ?? 0), prompt);
  const created = minOf(BigInt(tokens.cacheCreationInputTokens ?? 0), prompt - read);
  const cached = read + created > 0n ? 0n : minOf(BigInt(tokens.cachedPromptTokens), prompt);
  const input = BigInt(tier.inputMicroUsdPerMillionTokens);
  const rate = (given: number | undefined, percent: number): bigint =>
    given === undefined ? input * BigInt(percent) : BigInt(given) * 100n;
  const output =
    tokens.reasoningTokens > 0
      ? (tier.thinkingOutputMicroUsdPerMillionTokens ?? tier.outputMicroUsdPerMillionTokens)
      : tier.outputMicroUsdPerMillionTokens;
  return (
    (prompt - read - created - cached) * input * 100n +
    cached * rate(tier.cachedInputMicroUsdPerMillionTokens, defaultCacheRatesPercent.implicitHit) +
    created * rate(tier.cacheCreationInputMicroUsdPerMillionTokens, defaultCacheRatesPercent.explicitCreation) +
    read * rate(tier.cacheReadInputMicroUsdPerMillionTokens, defaultCacheRatesPercent.explicitHit) +
    BigInt(tokens.completionTokens) * BigInt(output) * 100n
  );
}

describe("costMicroUsd and costNanoUsd", () => {
  it("equal the formula in BigInt, rounded half up, for counts and rates small and past 2^53 (the double path and the BigInt one)", () => {
    // Up to 10^10 tokens at up to 10^12 micro-USD per million: products up to 10^24 (past 2^53), most far below.
    const count = fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 10_000_000_000 }));
    const rate = fc.oneof(fc.integer({ min: 0, max: 100_000_000 }), fc.integer({ min: 0, max: 1_000_000_000_000 }));
    fc.assert(
      fc.property(
        fc.record(
          {
            inputMicroUsdPerMillionTokens: rate,
            outputMicroUsdPerMillionTokens: rate,
            thinkingOutputMicroUsdPerMillionTokens: rate,
            cachedInputMicroUsdPerMillionTokens: rate,
            cacheCreationInputMicroUsdPerMillionTokens: rate,
            cacheReadInputMicroUsdPerMillionTokens: rate,
          },
          { requiredKeys: ["inputMicroUsdPerMillionTokens", "outputMicroUsdPerMillionTokens"] },
        ),
        fc.record(
          {
            promptTokens: count,
            cachedPromptTokens: count,
            completionTokens: count,
            reasoningTokens: count,
            cacheCreationInputTokens: count,
            cacheReadInputTokens: count,
          },
          { requiredKeys: ["promptTokens", "cachedPromptTokens", "completionTokens", "reasoningTokens"] },
        ),
        (tier, tokens) => {
          const price: ResolvedPrice = { model: "m", tiers: [tier] };
          const hundredths = referenceHundredths(tier, tokens);
          expect(costMicroUsd(price, tokens)).toBe(Number((hundredths + 50_000_000n) / 100_000_000n));
          expect(costNanoUsd(price, tokens)).toBe(Number((hundredths * 1000n + 50_000_000n) / 100_000_000n));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("rounds half up at the boundary, in both paths", () => {
    // 1 token at 0.5 micro-USD per million is 50_000_000 hundredths per 10^8: exactly half a micro-USD, rounded up.
    const half: ResolvedPrice = { model: "m", tiers: [{ inputMicroUsdPerMillionTokens: 500_000, outputMicroUsdPerMillionTokens: 0 }] };
    expect(costMicroUsd(half, { promptTokens: 1, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 })).toBe(1);
    expect(costNanoUsd(half, { promptTokens: 1, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 })).toBe(500);
    // Past 2^53 (the BigInt path): 10^10 tokens at 10^12 micro-USD per million.
    const huge: ResolvedPrice = {
      model: "m",
      tiers: [{ inputMicroUsdPerMillionTokens: 1_000_000_000_000, outputMicroUsdPerMillionTokens: 0 }],
    };
    expect(costMicroUsd(huge, { promptTokens: 10_000_000_000, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 })).toBe(1e16);
  });
});
