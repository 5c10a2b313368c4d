import { describe, expect, it } from "vitest";
import { cloudListPriceBook, cloudRegionSchema, toMicroUsd } from "./cloud-list-prices.js";
import { defaultPriceBookData } from "./default-price-book.js";
import { createPriceBook, priceBookSchema } from "./price-book.js";

describe("the cloud list prices dataset", () => {
  it("is the default price book's only source: one entry per dataset entry, CNY converted, cache prices filled in", () => {
    expect(defaultPriceBookData.prices.map((entry) => [entry.model, entry.region])).toEqual(
      cloudListPriceBook.prices.map((price) => [price.model, price.region]),
    );
    const mainland = cloudListPriceBook.prices.find((price) => price.model === "qwen3-32b")!;
    const entry = createPriceBook().cloudPrice("qwen3-32b", Date.parse("2026-01-01"))!;
    expect(entry.tiers[0]).toEqual({
      inputMicroUsdPerMillionTokens: toMicroUsd(mainland.tiers[0]!.inputMicroPerMillionTokens, "CNY"),
      outputMicroUsdPerMillionTokens: toMicroUsd(mainland.tiers[0]!.outputMicroPerMillionTokens, "CNY"),
      thinkingOutputMicroUsdPerMillionTokens: toMicroUsd(mainland.tiers[0]!.thinkingOutputMicroPerMillionTokens!, "CNY"),
      cachedInputMicroUsdPerMillionTokens: Math.round((2_000_000 * 0.2) / 7.2),
    });
    expect(defaultPriceBookData.prices.find((price) => price.model === "qwen3-32b")!.note).toContain(
      "input 2, output 8, thinking output 20",
    );
  });

  it("speaks one region vocabulary with price book files", () => {
    expect(priceBookSchema.parse({ version: 1 }).preferredRegions).toEqual(cloudRegionSchema.options);
    expect(defaultPriceBookData.preferredRegions).toEqual(cloudRegionSchema.options);
  });

  it("keeps USD as it is and rounds converted CNY half up", () => {
    expect(toMicroUsd(1_234_567, "USD")).toBe(1_234_567);
    expect(toMicroUsd(3_000_000, "CNY")).toBe(416_667);
  });
});
