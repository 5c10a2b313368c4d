import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { costMicroUsd, priceRequest, selectTier } from "./cost.js";
import { defaultPriceBookData } from "./default-price-book.js";
import { createPriceBook, hourlyToTier, loadPriceBook, type PriceBookInput } from "./price-book.js";

const tokens = (promptTokens: number, completionTokens: number, extra: { cachedPromptTokens?: number; reasoningTokens?: number } = {}) => ({
  promptTokens,
  completionTokens,
  cachedPromptTokens: extra.cachedPromptTokens ?? 0,
  reasoningTokens: extra.reasoningTokens ?? 0,
});

describe("the default price book", () => {
  const book = createPriceBook();

  it("validates, and marks every cloud list price as one to verify, with its source and date", () => {
    expect(book.entries.length).toBe(defaultPriceBookData.prices.length);
    for (const entry of book.entries) {
      expect(entry.kind).toBe("cloud");
      expect(entry.verify).toBe(true);
      expect(entry.source).toBeTruthy();
      expect(entry.sourceDate).toBeTruthy();
    }
  });

  it("prices qwen3-coder-flash by the tier its prompt falls into, the whole request at that tier", () => {
    const price = book.cloudPrice("qwen3-coder-flash", Date.parse("2026-01-01"))!;
    // 1M prompt tokens at tier 1 ($0.30) and at tier 2 ($0.50): the whole prompt moves to the higher price.
    expect(costMicroUsd(price, tokens(32_000, 0))).toBe(9_600); // 32,000 x $0.30/1M = $0.0096
    expect(costMicroUsd(price, tokens(32_001, 0))).toBe(16_001); // 32,001 x $0.50/1M = $0.0160005, rounded half up
    expect(costMicroUsd(price, tokens(300_000, 1_000))).toBe(300_000 * 1.6 + 1_000 * 9.6);
    expect(selectTier(price.tiers, 128_000).inputMicroUsdPerMillionTokens).toBe(500_000);
  });

  it("bills thinking-mode output at the thinking price and cache hits at the cache price (qwen3-32b, Mainland)", () => {
    const price = book.cloudPrice("qwen3-32b", Date.parse("2026-01-01"))!;
    expect(costMicroUsd(price, tokens(1_000_000, 1_000_000))).toBe(277_778 + 1_111_111);
    expect(costMicroUsd(price, tokens(1_000_000, 1_000_000, { reasoningTokens: 10 }))).toBe(277_778 + 2_777_778);
    expect(costMicroUsd(price, tokens(1_000_000, 0, { cachedPromptTokens: 1_000_000 }))).toBe(55_556);
  });

  it("prefers the international price of a model listed in two regions", () => {
    expect(book.cloudPrice("qwen-plus", Date.parse("2026-01-01"))!.tiers[0]!.inputMicroUsdPerMillionTokens).toBe(400_000);
  });

  it("finds the nearest cloud model by name, and falls back to the default", () => {
    expect(book.nearestCloudModel("Qwen3-30B-A3B-Instruct-2507-Q4_K_M")).toBe("qwen3-30b-a3b-instruct-2507");
    expect(book.nearestCloudModel("qwen3-30b-a3b-thinking-2507-UD-Q8_K_XL.gguf")).toBe("qwen3-30b-a3b-thinking-2507");
    expect(book.nearestCloudModel("Qwen3-Coder-Flash-Q4_K_M")).toBe("qwen3-coder-flash");
    expect(book.nearestCloudModel("stories260K")).toBe("qwen3.5-flash");
  });

  it("prices local models by engine time at an estimated hourly cost, and still gives the cloud equivalent", () => {
    const machine = { watts: 100, source: "test machine" };
    const cost = priceRequest(
      book,
      { model: "stories260K", startedAtMs: Date.now(), ...tokens(1_000_000, 1_000_000), engineTimeMs: 3_600_000 },
      machine,
    );
    // One hour at 100 W and the default $0.165/kWh: 16,500 micro-USD.
    expect(cost).toEqual({
      costMicroUsd: 16_500,
      costNanoUsd: 16_500_000,
      engineTimeUs: 3_600_000_000,
      costEstimated: true,
      cloudModel: "qwen3.5-flash",
      cloudCostMicroUsd: 100_000 + 400_000,
      cloudCostNanoUsd: (100_000 + 400_000) * 1000,
    });
    // Without a measured engine time (an upstream request), the model's token price applies: none.
    expect(priceRequest(book, { model: "stories260K", startedAtMs: Date.now(), ...tokens(10, 10) }, machine).costNanoUsd).toBe(0);
  });
});

describe("an operator's price book", () => {
  const january = Date.parse("2026-01-15T12:00:00Z");
  const march = Date.parse("2026-03-15T12:00:00Z");
  const input: PriceBookInput = {
    version: 1,
    prices: [
      {
        model: "local-moe",
        aliases: ["moe"],
        kind: "local",
        effectiveFrom: "2026-01-01",
        tiers: [{ inputMicroUsdPerMillionTokens: 1_000_000, outputMicroUsdPerMillionTokens: 2_000_000 }],
        cloudEquivalent: "qwen-max",
      },
      {
        model: "local-moe",
        kind: "local",
        effectiveFrom: "2026-03-01T00:00:00Z",
        tiers: [{ inputMicroUsdPerMillionTokens: 3_000_000, outputMicroUsdPerMillionTokens: 4_000_000 }],
      },
      {
        model: "hourly",
        kind: "local",
        effectiveFrom: "2026-01-01",
        hourly: { microUsdPerHour: 360_000, inputTokensPerSecond: 1000, outputTokensPerSecond: 100 },
      },
    ],
  };
  const book = createPriceBook(input);

  it("keeps the built-in list prices beside its own entries", () => {
    expect(book.cloudPrice("qwen-max", january)).toBeDefined();
    expect(createPriceBook({ ...input, includeDefaults: false }).cloudPrice("qwen-max", january)).toBeUndefined();
  });

  it("applies a price from its effective date on, never before", () => {
    const request = { model: "local-moe", ...tokens(1_000_000, 1_000_000) };
    expect(priceRequest(book, { ...request, startedAtMs: Date.parse("2025-12-31T23:59:59Z") }).costMicroUsd).toBe(0);
    expect(priceRequest(book, { ...request, startedAtMs: january })).toMatchObject({
      costMicroUsd: 3_000_000,
      priceEffectiveAtMs: Date.parse("2026-01-01T00:00:00Z"),
    });
    expect(priceRequest(book, { ...request, startedAtMs: march })).toMatchObject({
      costMicroUsd: 7_000_000,
      priceEffectiveAtMs: Date.parse("2026-03-01T00:00:00Z"),
    });
    expect(priceRequest(book, { ...request, model: "moe", startedAtMs: january }).costMicroUsd).toBe(3_000_000);
  });

  it("uses the entry's cloud equivalent over the name match", () => {
    expect(priceRequest(book, { model: "local-moe", startedAtMs: january, ...tokens(1_000_000, 0) })).toMatchObject({
      cloudModel: "qwen-max",
      cloudCostMicroUsd: 1_600_000,
    });
  });

  it("turns an hourly cost into per-token prices by throughput", () => {
    // $0.36 per hour; 3.6M prompt tokens or 360k generated tokens an hour.
    expect(hourlyToTier({ microUsdPerHour: 360_000, inputTokensPerSecond: 1000, outputTokensPerSecond: 100 })).toEqual({
      inputMicroUsdPerMillionTokens: 100_000,
      outputMicroUsdPerMillionTokens: 1_000_000,
    });
    expect(priceRequest(book, { model: "hourly", startedAtMs: january, ...tokens(10_000, 1_000) }).costMicroUsd).toBe(1_000 + 1_000);
  });

  it("costs unlisted models by localDefault when given", () => {
    const withDefault = createPriceBook({
      version: 1,
      localDefault: { tiers: [{ inputMicroUsdPerMillionTokens: 10, outputMicroUsdPerMillionTokens: 1_000_000 }] },
    });
    expect(priceRequest(withDefault, { model: "anything", startedAtMs: january, ...tokens(5, 3) })).toMatchObject({ costMicroUsd: 3 });
  });

  it("rejects books that break the rules, naming the field", () => {
    const cases: Array<[unknown, string]> = [
      [{ version: 2 }, "version"],
      [{ version: 1, prices: [{ model: "x", kind: "local", effectiveFrom: "2026-01-01" }] }, "prices.0.tiers"],
      [
        {
          version: 1,
          prices: [
            {
              model: "x",
              kind: "cloud",
              effectiveFrom: "yesterday",
              tiers: [{ inputMicroUsdPerMillionTokens: 1, outputMicroUsdPerMillionTokens: 1 }],
            },
          ],
        },
        "prices.0.effectiveFrom",
      ],
      [
        {
          version: 1,
          prices: [
            {
              model: "x",
              kind: "cloud",
              effectiveFrom: "2026-01-01",
              tiers: [{ inputMicroUsdPerMillionTokens: 0.5, outputMicroUsdPerMillionTokens: 1 }],
            },
          ],
        },
        "prices.0.tiers.0.inputMicroUsdPerMillionTokens",
      ],
      [
        {
          version: 1,
          prices: [
            {
              model: "x",
              kind: "cloud",
              effectiveFrom: "2026-01-01",
              tiers: [{ maxPromptTokens: 10, inputMicroUsdPerMillionTokens: 1, outputMicroUsdPerMillionTokens: 1 }],
            },
          ],
        },
        "prices.0.tiers.0",
      ],
      [
        {
          version: 1,
          prices: [
            {
              model: "x",
              kind: "cloud",
              effectiveFrom: "2026-01-01",
              hourly: { microUsdPerHour: 1, inputTokensPerSecond: 1, outputTokensPerSecond: 1 },
            },
          ],
        },
        "prices.0.hourly",
      ],
      [
        {
          version: 1,
          prices: [
            {
              model: "x",
              kind: "cloud",
              effectiveFrom: "2026-01-01",
              inputUsd: 1,
              tiers: [{ inputMicroUsdPerMillionTokens: 1, outputMicroUsdPerMillionTokens: 1 }],
            },
          ],
        },
        "prices.0",
      ],
    ];
    for (const [bad, field] of cases) {
      let caught: unknown;
      try {
        createPriceBook(bad);
      } catch (error) {
        caught = error;
      }
      expect(caught, field).toBeInstanceOf(MoestroError);
      expect((caught as MoestroError).message).toContain(`'${field}`);
    }
  });

  it("loads from a JSON file, and says which file is broken", async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-prices-"));
    const good = path.join(folder, "prices.json");
    writeFileSync(good, JSON.stringify(input));
    expect((await loadPriceBook(good)).localPrice("local-moe", march).tiers[0]!.inputMicroUsdPerMillionTokens).toBe(3_000_000);
    const broken = path.join(folder, "broken.json");
    writeFileSync(broken, "{");
    await expect(loadPriceBook(broken)).rejects.toThrow(/broken\.json is not valid JSON/);
  });
});

describe("batchPriceRatio", () => {
  it("defaults to 0.5 (OpenAI's and DashScope's batch discount), takes 0 to 1, and refuses other values", () => {
    expect(createPriceBook({ version: 1 }).batchPriceRatio).toBe(0.5);
    expect(createPriceBook({ version: 1, batchPriceRatio: 0.25 }).batchPriceRatio).toBe(0.25);
    expect(() => createPriceBook({ version: 1, batchPriceRatio: 1.5 })).toThrow(/batchPriceRatio/);
  });
});
