import { cloudListPriceBook, toMicroUsd, type CloudListPrice } from "../metering/cloud-list-prices.js";
import type { ModelFacts } from "./model-facts.js";

/** Prices for the local cost estimate. */
export interface CostOptions {
  /**
   * Power drawn while decoding, in watts (`--watts`). Without it there is no energy figure; `createPlan` passes the
   * hardware's typical power when it is not given.
   */
  powerWatts?: number;
  /** Electricity price, in USD per kWh (`--price-kwh`). Without it there is no energy figure. */
  pricePerKwhUsd?: number;
  /** Rental or amortised price of the machine, in USD per hour (`--hourly-usd`). Without it there is no hourly figure. */
  hourlyUsd?: number;
}

/** The cloud list price a plan is compared with, at the entry's lowest input tier. */
export interface CloudPriceMatch {
  /** The entry of the cloud list prices ({@link cloudListPriceBook}), figures in its source currency. */
  price: CloudListPrice;
  /**
   * How it was chosen:
   * - `name`: the GGUF's name matches the entry's model (`Qwen3-30B-A3B` → `qwen3-30b-a3b-instruct-2507`);
   * - `active-parameters`: the entry whose published active parameters are nearest on a log scale.
   */
  match: "name" | "active-parameters";
  /** Non-thinking output price per 1M tokens in micro-USD (CNY converted by the metering's `toMicroUsd`, at the dataset's `cnyPerUsd`). */
  outputMicroUsdPerMillionTokens: number;
  /**
   * Thinking-mode output price per 1M tokens in micro-USD, when billed apart: the entry's own, else the output price of
   * its `thinkingCounterpart` (the provider's thinking model of a hybrid split in two).
   */
  thinkingOutputMicroUsdPerMillionTokens: number | undefined;
}

/** The cost of generating output tokens locally, beside the cloud's list price. Money is integer micro-USD. */
export interface CostEstimate {
  /** The decode speed the cost is for, in tokens per second. */
  tokensPerSecond: number;
  /** watts × (10^6 / tokensPerSecond) s / 3.6×10^6 J per kWh × USD per kWh; `undefined` without both prices. */
  energyMicroUsdPerMillionOutputTokens: number | undefined;
  /** USD per hour × 10^6 / tokensPerSecond / 3600 s; `undefined` without `hourlyUsd`. */
  hourlyMicroUsdPerMillionOutputTokens: number | undefined;
  /** The hourly figure when given (it includes power), else the energy figure. */
  costMicroUsdPerMillionOutputTokens: number | undefined;
  /** The nearest cloud model's list price ({@link findNearestCloudPrice}), or `undefined` when the dataset has no sized entry. */
  cloud: CloudPriceMatch | undefined;
}

/** The thinking-mode output price of `price`'s lowest tier in micro-USD, or `undefined` when not billed apart. */
function thinkingOutputMicroUsd(price: CloudListPrice): number | undefined {
  const own = price.tiers[0]!.thinkingOutputMicroPerMillionTokens;
  if (own !== undefined) return toMicroUsd(own, price.currency);
  const counterpart = cloudListPriceBook.prices.find(
    (candidate) => candidate.model === price.thinkingCounterpart && candidate.region === price.region,
  );
  return counterpart === undefined ? undefined : toMicroUsd(counterpart.tiers[0]!.outputMicroPerMillionTokens, counterpart.currency);
}

/**
 * The cloud list price nearest to a model: first an entry whose `namePattern` matches the GGUF's name or file name;
 * otherwise the entry with published active parameters nearest on a log scale (|ln(active) − ln(entry)|), which
 * compares cost per token of similar compute. Entries come from the project's one dataset of cloud list prices
 * ({@link cloudListPriceBook}). `undefined` when it has no sized entry.
 */
export function findNearestCloudPrice(facts: ModelFacts): CloudPriceMatch | undefined {
  const names = [facts.name, facts.source.kind === "file" ? facts.source.path : facts.source.filePath];
  const toMatch = (price: CloudListPrice, match: CloudPriceMatch["match"]): CloudPriceMatch => ({
    price,
    match,
    outputMicroUsdPerMillionTokens: toMicroUsd(price.tiers[0]!.outputMicroPerMillionTokens, price.currency),
    thinkingOutputMicroUsdPerMillionTokens: thinkingOutputMicroUsd(price),
  });
  const byName = cloudListPriceBook.prices.find(
    (price) => price.namePattern !== undefined && names.some((name) => new RegExp(price.namePattern!, "i").test(name)),
  );
  if (byName) return toMatch(byName, "name");
  const sized = cloudListPriceBook.prices.filter((price) => price.activeParameters !== undefined);
  if (sized.length === 0 || facts.parameters.active <= 0) return undefined;
  const distance = (price: CloudListPrice): number => Math.abs(Math.log(facts.parameters.active) - Math.log(price.activeParameters!));
  const nearest = sized.reduce((best, price) => (distance(price) < distance(best) ? price : best));
  return toMatch(nearest, "active-parameters");
}

/**
 * Cost of one million output tokens at `tokensPerSecond`, from power and electricity price and/or an hourly price,
 * with the nearest cloud list price beside it.
 */
export function estimateCost(tokensPerSecond: number, options: CostOptions, facts: ModelFacts): CostEstimate {
  const secondsPerMillion = tokensPerSecond > 0 ? 1e6 / tokensPerSecond : Number.POSITIVE_INFINITY;
  const energy =
    options.powerWatts !== undefined && options.pricePerKwhUsd !== undefined && Number.isFinite(secondsPerMillion)
      ? Math.round(((options.powerWatts * secondsPerMillion) / 3.6e6) * options.pricePerKwhUsd * 1e6)
      : undefined;
  const hourly =
    options.hourlyUsd !== undefined && Number.isFinite(secondsPerMillion)
      ? Math.round(((options.hourlyUsd * secondsPerMillion) / 3600) * 1e6)
      : undefined;
  return {
    tokensPerSecond,
    energyMicroUsdPerMillionOutputTokens: energy,
    hourlyMicroUsdPerMillionOutputTokens: hourly,
    costMicroUsdPerMillionOutputTokens: hourly ?? energy,
    cloud: findNearestCloudPrice(facts),
  };
}

/** Prints micro-USD as dollars, with three significant digits below $1: `$12.30`, `$0.417`, `$0.00312`. */
export function formatMicroUsd(microUsd: number): string {
  const dollars = microUsd / 1e6;
  if (dollars !== 0 && Math.abs(dollars) < 1) return `$${dollars.toPrecision(3)}`;
  return `$${dollars.toFixed(2)}`;
}
