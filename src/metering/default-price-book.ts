/**
 * The built-in price book: cloud list prices of Qwen models on Alibaba Cloud Model Studio, used for the
 * "what would this have cost in the cloud" column of the usage ledger. Validated by `priceBookSchema` when loaded.
 *
 * Source: ../shared/prices/cloud-list-prices.md, figures read from stored copies of public pages (Model Studio billing
 * pages, other gateways' price listings) dated 2025 to 2026. They could not be re-checked: every entry is marked
 * `verify: true` ("list price, verify"). Prices move often and differ by region.
 *
 * Conventions of this data:
 * - Tier bounds read "32K" as 32,000 prompt tokens (verify: the provider may mean 32,768).
 * - Mainland (cn-mainland) prices are in CNY at the source; they are converted here at 7.2 CNY per USD and the CNY
 *   figures are kept in `note`. International (intl) USD prices win when a model has both.
 * - Where the source gives no cache price, the cached input price is 20% of the input price (Model Studio's implicit
 *   cache-hit rule), said so in `note`.
 * - `effectiveFrom` is 2025-01-01 for all: the source dates are not more precise than "2025 to 2026".
 * - Local models cost zero (no `localDefault`): an operator sets hardware or electricity costs in their own price book.
 */
export const defaultPriceBookData = {
  version: 1,
  preferredRegions: ["intl", "cn-mainland"],
  defaultCloudEquivalent: "qwen3.5-flash",
  prices: [
    {
      model: "qwen3-max",
      kind: "cloud",
      region: "intl",
      effectiveFrom: "2025-01-01",
      tiers: [
        {
          inputMicroUsdPerMillionTokens: 1_200_000,
          outputMicroUsdPerMillionTokens: 6_000_000,
          cachedInputMicroUsdPerMillionTokens: 240_000,
        },
      ],
      source: "api-evangelist/qwen plans; Vercel AI Gateway listing",
      sourceDate: "2025-2026",
      verify: true,
      note: "0-32K tier only; the source gives input $3.00 at 128-252K without its output price, so longer prompts are under-priced here. Cache price derived (20% of input).",
    },
    {
      model: "qwen3.5-plus",
      kind: "cloud",
      region: "intl",
      effectiveFrom: "2025-01-01",
      tiers: [
        { inputMicroUsdPerMillionTokens: 400_000, outputMicroUsdPerMillionTokens: 2_400_000, cachedInputMicroUsdPerMillionTokens: 80_000 },
      ],
      source: "api-evangelist/qwen plans",
      sourceDate: "2025-2026",
      verify: true,
      note: "0-256K tier; no price above 256K in the source. Cache price derived (20% of input).",
    },
    {
      model: "qwen3.5-flash",
      kind: "cloud",
      region: "intl",
      effectiveFrom: "2025-01-01",
      tiers: [
        { inputMicroUsdPerMillionTokens: 100_000, outputMicroUsdPerMillionTokens: 400_000, cachedInputMicroUsdPerMillionTokens: 20_000 },
      ],
      source: "LiteLLM PR #22848",
      sourceDate: "2025-2026",
      verify: true,
      note: "0-128K tier; implicit-cache read $0.02 per 1M from the source.",
    },
    {
      model: "qwen3-coder-flash",
      kind: "cloud",
      region: "intl",
      effectiveFrom: "2025-01-01",
      tiers: [
        {
          maxPromptTokens: 32_000,
          inputMicroUsdPerMillionTokens: 300_000,
          outputMicroUsdPerMillionTokens: 1_500_000,
          cachedInputMicroUsdPerMillionTokens: 80_000,
        },
        {
          maxPromptTokens: 128_000,
          inputMicroUsdPerMillionTokens: 500_000,
          outputMicroUsdPerMillionTokens: 2_500_000,
          cachedInputMicroUsdPerMillionTokens: 120_000,
        },
        {
          maxPromptTokens: 256_000,
          inputMicroUsdPerMillionTokens: 800_000,
          outputMicroUsdPerMillionTokens: 4_000_000,
          cachedInputMicroUsdPerMillionTokens: 200_000,
        },
        {
          inputMicroUsdPerMillionTokens: 1_600_000,
          outputMicroUsdPerMillionTokens: 9_600_000,
          cachedInputMicroUsdPerMillionTokens: 400_000,
        },
      ],
      source: "LiteLLM PR #14471",
      sourceDate: "2025-2026",
      verify: true,
      note: "Tiers 0-32K / 32-128K / 128-256K / 256K-1M; cache read prices from the source.",
    },
    {
      model: "qwen-max",
      kind: "cloud",
      region: "intl",
      effectiveFrom: "2025-01-01",
      tiers: [
        {
          inputMicroUsdPerMillionTokens: 1_600_000,
          outputMicroUsdPerMillionTokens: 6_400_000,
          cachedInputMicroUsdPerMillionTokens: 320_000,
        },
      ],
      source: "Alibaba Cloud Model Studio, Billing for model services (2025 page)",
      sourceDate: "2025",
      verify: true,
      note: "Minimum tier only. Cache price derived (20% of input).",
    },
    {
      model: "qwen-plus",
      kind: "cloud",
      region: "intl",
      effectiveFrom: "2025-01-01",
      tiers: [
        { inputMicroUsdPerMillionTokens: 400_000, outputMicroUsdPerMillionTokens: 1_200_000, cachedInputMicroUsdPerMillionTokens: 80_000 },
      ],
      source: "Alibaba Cloud Model Studio, Billing for model services (2025 page)",
      sourceDate: "2025",
      verify: true,
      note: "Minimum tier only. Cache price derived (20% of input).",
    },
    {
      model: "qwen-turbo",
      kind: "cloud",
      region: "intl",
      effectiveFrom: "2025-01-01",
      tiers: [
        { inputMicroUsdPerMillionTokens: 50_000, outputMicroUsdPerMillionTokens: 200_000, cachedInputMicroUsdPerMillionTokens: 10_000 },
      ],
      source: "Alibaba Cloud Model Studio, Billing for model services (2025 page)",
      sourceDate: "2025",
      verify: true,
      note: "Minimum tier only. Cache price derived (20% of input).",
    },
    {
      model: "qwen-plus",
      kind: "cloud",
      region: "cn-mainland",
      effectiveFrom: "2025-01-01",
      tiers: [
        {
          maxPromptTokens: 128_000,
          inputMicroUsdPerMillionTokens: 111_111,
          outputMicroUsdPerMillionTokens: 277_778,
          thinkingOutputMicroUsdPerMillionTokens: 1_111_111,
          cachedInputMicroUsdPerMillionTokens: 27_778,
        },
        {
          maxPromptTokens: 256_000,
          inputMicroUsdPerMillionTokens: 333_333,
          outputMicroUsdPerMillionTokens: 2_777_778,
          thinkingOutputMicroUsdPerMillionTokens: 3_333_333,
          cachedInputMicroUsdPerMillionTokens: 69_444,
        },
        {
          inputMicroUsdPerMillionTokens: 666_667,
          outputMicroUsdPerMillionTokens: 6_666_667,
          thinkingOutputMicroUsdPerMillionTokens: 8_888_889,
          cachedInputMicroUsdPerMillionTokens: 138_889,
        },
      ],
      source: "help.aliyun.com doc 3023262",
      sourceDate: "2025-2026",
      verify: true,
      note: "CNY at source, converted at 7.2 CNY/USD: input 0.8/2.4/4.8, output 2/20/48, thinking output 8/24/64, cache hit 0.2/0.5/1.0 CNY per 1M.",
    },
    {
      model: "qwen3-32b",
      kind: "cloud",
      region: "cn-mainland",
      effectiveFrom: "2025-01-01",
      tiers: [
        {
          inputMicroUsdPerMillionTokens: 277_778,
          outputMicroUsdPerMillionTokens: 1_111_111,
          thinkingOutputMicroUsdPerMillionTokens: 2_777_778,
          cachedInputMicroUsdPerMillionTokens: 55_556,
        },
      ],
      source: "help.aliyun.com doc 3023262",
      sourceDate: "2025-2026",
      verify: true,
      note: "CNY at source, converted at 7.2 CNY/USD: input 2, output 8, thinking output 20 CNY per 1M. Cache price derived (20% of input).",
    },
    {
      model: "qwen3-30b-a3b-instruct-2507",
      kind: "cloud",
      region: "cn-mainland",
      effectiveFrom: "2025-01-01",
      tiers: [
        { inputMicroUsdPerMillionTokens: 111_111, outputMicroUsdPerMillionTokens: 416_667, cachedInputMicroUsdPerMillionTokens: 22_222 },
      ],
      source: "help.aliyun.com doc 3023262",
      sourceDate: "2025-2026",
      verify: true,
      note: "CNY at source, converted at 7.2 CNY/USD: input 0.8, output 3 CNY per 1M. Cache price derived (20% of input).",
    },
    {
      model: "qwen3-30b-a3b-thinking-2507",
      kind: "cloud",
      region: "cn-mainland",
      effectiveFrom: "2025-01-01",
      tiers: [
        { inputMicroUsdPerMillionTokens: 111_111, outputMicroUsdPerMillionTokens: 1_041_667, cachedInputMicroUsdPerMillionTokens: 22_222 },
      ],
      source: "help.aliyun.com doc 3023262",
      sourceDate: "2025-2026",
      verify: true,
      note: "CNY at source, converted at 7.2 CNY/USD: input 0.8, output 7.5 CNY per 1M (a thinking-only model). Cache price derived (20% of input).",
    },
    {
      model: "qwen-flash",
      kind: "cloud",
      region: "cn-mainland",
      effectiveFrom: "2025-01-01",
      tiers: [
        {
          maxPromptTokens: 128_000,
          inputMicroUsdPerMillionTokens: 27_778,
          outputMicroUsdPerMillionTokens: 208_333,
          cachedInputMicroUsdPerMillionTokens: 5_556,
        },
        {
          maxPromptTokens: 256_000,
          inputMicroUsdPerMillionTokens: 83_333,
          outputMicroUsdPerMillionTokens: 833_333,
          cachedInputMicroUsdPerMillionTokens: 16_667,
        },
        { inputMicroUsdPerMillionTokens: 166_667, outputMicroUsdPerMillionTokens: 1_666_667, cachedInputMicroUsdPerMillionTokens: 33_333 },
      ],
      source: "help.aliyun.com doc 3023262",
      sourceDate: "2025-2026",
      verify: true,
      note: "CNY at source, converted at 7.2 CNY/USD: input 0.2/0.6/1.2, output 1.5/6/12 CNY per 1M (another mirror shows 0.15 input at 0-128K: prices move). Cache price derived (20% of input).",
    },
  ],
} as const;
