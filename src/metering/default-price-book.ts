import { cloudListPriceBook, cloudRegionSchema, toMicroUsd, type CloudListPrice } from "./cloud-list-prices.js";

/**
 * The built-in price book: the cloud list prices of `cloud-list-prices.json` ({@link cloudListPriceBook}) in the price
 * book format, used for the "what would this have cost in the cloud" column of the usage ledger. Validated by
 * `priceBookSchema` when loaded.
 *
 * How the dataset becomes price entries:
 * - Mainland (cn-mainland) prices, in CNY at the source, are converted at the dataset's 7.2 CNY per USD (rounded half
 *   up to whole micro-USD); the CNY figures are kept in `note`. International (intl) prices win when a model has both.
 * - Where the source gives no cache price, the cached input price is 20% of the input price (Model Studio's implicit
 *   cache-hit rule), said so in `note`.
 * - Every entry is marked `verify: true` ("list price, verify"): the figures could not be re-checked.
 * - `effectiveFrom` is 2025-01-01 for all: the source dates are not more precise than "2025 to 2026".
 * - No `localDefault` and no `localTime`: local models are priced by engine time at the estimated hourly cost
 *   (`time-pricing.ts`: this machine's typical power at the default electricity price); an operator sets hardware,
 *   power and electricity in their own price book (`localTime`).
 */
export const defaultPriceBookData = {
  version: 1,
  preferredRegions: [...cloudRegionSchema.options],
  defaultCloudEquivalent: "qwen3.5-flash",
  prices: cloudListPriceBook.prices.map(toPriceEntry),
};

/** One dataset entry as a price book entry in micro-USD (see {@link defaultPriceBookData}). */
function toPriceEntry(price: CloudListPrice) {
  const { currency } = price;
  const usd = (microAmount: number): number => toMicroUsd(microAmount, currency);
  const cachedInput = (tier: CloudListPrice["tiers"][number]): number =>
    tier.cachedInputMicroPerMillionTokens ?? Math.round(tier.inputMicroPerMillionTokens * cloudListPriceBook.implicitCacheHitShare);
  const hasDerivedCache = price.tiers.some((tier) => tier.cachedInputMicroPerMillionTokens === undefined);
  const notes = [
    currency === "CNY" ? `CNY at source, converted at ${cloudListPriceBook.cnyPerUsd} CNY/USD: ${describeCnyTiers(price)}.` : undefined,
    price.note,
    hasDerivedCache ? `Cache price derived (${cloudListPriceBook.implicitCacheHitShare * 100}% of input).` : undefined,
  ];
  return {
    model: price.model,
    kind: "cloud" as const,
    region: price.region,
    effectiveFrom: "2025-01-01",
    tiers: price.tiers.map((tier) => ({
      ...(tier.maxPromptTokens === undefined ? {} : { maxPromptTokens: tier.maxPromptTokens }),
      inputMicroUsdPerMillionTokens: usd(tier.inputMicroPerMillionTokens),
      outputMicroUsdPerMillionTokens: usd(tier.outputMicroPerMillionTokens),
      ...(tier.thinkingOutputMicroPerMillionTokens === undefined
        ? {}
        : { thinkingOutputMicroUsdPerMillionTokens: usd(tier.thinkingOutputMicroPerMillionTokens) }),
      cachedInputMicroUsdPerMillionTokens: usd(cachedInput(tier)),
    })),
    source: price.source,
    sourceDate: price.sourceDate,
    verify: true,
    note: notes.filter((note) => note !== undefined).join(" "),
  };
}

/** `input 0.8/2.4/4.8, output 2/20/48, thinking output 8/24/64, cache hit 0.2/0.5/1 CNY per 1M`: the source's figures. */
function describeCnyTiers(price: CloudListPrice): string {
  const field = (label: string, pick: (tier: CloudListPrice["tiers"][number]) => number | undefined): string | undefined => {
    const values = price.tiers.map(pick);
    return values.every((value) => value === undefined) ? undefined : `${label} ${values.map((value) => (value ?? 0) / 1e6).join("/")}`;
  };
  const parts = [
    field("input", (tier) => tier.inputMicroPerMillionTokens),
    field("output", (tier) => tier.outputMicroPerMillionTokens),
    field("thinking output", (tier) => tier.thinkingOutputMicroPerMillionTokens),
    field("cache hit", (tier) => tier.cachedInputMicroPerMillionTokens),
  ];
  return `${parts.filter((part) => part !== undefined).join(", ")} CNY per 1M`;
}
