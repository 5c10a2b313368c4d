import type { MachinePower } from "../planner/machine-power.js";
import type { PriceBook, PriceTier, ResolvedPrice } from "./price-book.js";
import { engineTimeMicros, resolveTimeRate, timeCostNanoUsd, type TimeRate } from "./time-pricing.js";

/** The token counts a cost is computed from (a subset of a `UsageEvent`). */
export interface TokenCounts {
  /** Every prompt token, cached ones included. */
  promptTokens: number;
  /** Prompt tokens served from a cache, a subset of `promptTokens`. */
  cachedPromptTokens: number;
  /** Generated tokens, reasoning included. */
  completionTokens: number;
  /** Generated tokens that were reasoning; above 0 means the request ran in thinking mode. */
  reasoningTokens: number;
  /** Prompt tokens written to an explicit cache (`cache_control`), a subset of `promptTokens`. Defaults to 0. */
  cacheCreationInputTokens?: number;
  /** Prompt tokens read from an explicit cache (`cache_control`), a subset of `promptTokens`. Defaults to 0. */
  cacheReadInputTokens?: number;
}

/**
 * The default prices of cached prompt tokens where a tier gives none, in percent of the tier's input price: Alibaba
 * Cloud Model Studio's context cache terms ("Context cache", alibabacloud.com/help/en/model-studio/context-cache, read
 * 2026): implicit-cache hits at 20%, explicit-cache creation at 125%, explicit-cache hits at 10%.
 */
export const defaultCacheRatesPercent = { implicitHit: 20, explicitCreation: 125, explicitHit: 10 } as const;

/**
 * The tier a request is billed at: the first whose `maxPromptTokens` is at least the prompt's tokens (the last tier has
 * no bound). The whole request is billed at that tier.
 */
export function selectTier(tiers: readonly PriceTier[], promptTokens: number): PriceTier {
  return tiers.find((tier) => tier.maxPromptTokens === undefined || promptTokens <= tier.maxPromptTokens) ?? tiers.at(-1)!;
}

/**
 * The cost of `tokens` at `price`, in integer micro-USD, rounded half up once per request (never per token, so that a
 * sum of requests is off by at most half a micro-USD each).
 *
 * - Prompt tokens read from an explicit cache pay the cache-read price (default 10% of input), those written to it the
 *   cache-creation price (default 125%). A request that used the explicit cache pays no implicit-cache discount on its
 *   other prompt tokens: the two are mutually exclusive per request, as Model Studio bills them.
 * - Otherwise cached prompt tokens pay the cached-input price (default 20% of input; see {@link defaultCacheRatesPercent}).
 * - The other prompt tokens pay the input price.
 * - Generated tokens pay the output price, or the thinking-output price for the whole output when the request reasoned
 *   (`reasoningTokens > 0`), as Model Studio bills hybrid Qwen models.
 *
 * Computed in hundredths of a micro-USD per million tokens (so that the percentages are exact), in integer arithmetic:
 * in doubles while every product stays below 2^53, else in BigInt (tokens times micro-USD per million can pass 2^53).
 */
export function costMicroUsd(price: ResolvedPrice, tokens: TokenCounts): number {
  return roundedCost(tokenCostPerMillionHundredths(price, tokens), 1);
}

/**
 * The cost of `tokens` at `price` as {@link costMicroUsd} computes it, in integer nano-USD (rounded half up once per
 * request), so that a request of a few tokens at a low price does not round to 0.
 */
export function costNanoUsd(price: ResolvedPrice, tokens: TokenCounts): number {
  return roundedCost(tokenCostPerMillionHundredths(price, tokens), 1000);
}

/**
 * The largest cost in hundredths of a micro-USD per million tokens that {@link roundedCost} takes as a number: times
 * 1000, plus the half of the rounding, it stays a safe integer, so that every step is exact in a double.
 */
const maxNumberHundredths = Math.floor((Number.MAX_SAFE_INTEGER - 50_000_000) / 1000);

/** `hundredths × scale / 10^8` rounded half up, exactly (an integer division of non-negative integers either way). */
function roundedCost(hundredths: number | bigint, scale: 1 | 1000): number {
  if (typeof hundredths === "bigint") return Number((hundredths * BigInt(scale) + 50_000_000n) / 100_000_000n);
  const scaled = hundredths * scale + 50_000_000;
  return (scaled - (scaled % 100_000_000)) / 100_000_000;
}

/**
 * The cost of `tokens` at `price`, in hundredths of a micro-USD per million tokens (see {@link costMicroUsd}): a number
 * when it is at most {@link maxNumberHundredths} and every count and rate is a non-negative integer (every product then
 * is exact), else a BigInt, computed alike (which throws, as it always did, on a count or a rate that is not an integer).
 */
function tokenCostPerMillionHundredths(price: ResolvedPrice, tokens: TokenCounts): number | bigint {
  const tier = selectTier(price.tiers, tokens.promptTokens);
  const prompt = tokens.promptTokens;
  const read = Math.min(Math.max(tokens.cacheReadInputTokens ?? 0, 0), prompt);
  const created = Math.min(Math.max(tokens.cacheCreationInputTokens ?? 0, 0), prompt - read);
  const cached = read + created > 0 ? 0 : Math.min(Math.max(tokens.cachedPromptTokens, 0), prompt);
  const input = tier.inputMicroUsdPerMillionTokens;
  const outputRate =
    tokens.reasoningTokens > 0
      ? (tier.thinkingOutputMicroUsdPerMillionTokens ?? tier.outputMicroUsdPerMillionTokens)
      : tier.outputMicroUsdPerMillionTokens;
  const cachedRate = tier.cachedInputMicroUsdPerMillionTokens;
  const creationRate = tier.cacheCreationInputMicroUsdPerMillionTokens;
  const readRate = tier.cacheReadInputMicroUsdPerMillionTokens;
  if (
    isCount(prompt) &&
    isCount(read) &&
    isCount(created) &&
    isCount(cached) &&
    isCount(tokens.completionTokens) &&
    isCount(input) &&
    isCount(outputRate) &&
    (cachedRate === undefined || isCount(cachedRate)) &&
    (creationRate === undefined || isCount(creationRate)) &&
    (readRate === undefined || isCount(readRate))
  ) {
    /** A tier's rate in hundredths, or `percent` of the input price when the tier gives none. */
    const rate = (given: number | undefined, percent: number): number => (given === undefined ? input * percent : given * 100);
    // Every term is a non-negative integer: a product past 2^53 makes the sum pass the bound, and the BigInt path runs.
    const total =
      (prompt - read - created - cached) * input * 100 +
      cached * rate(cachedRate, defaultCacheRatesPercent.implicitHit) +
      created * rate(creationRate, defaultCacheRatesPercent.explicitCreation) +
      read * rate(readRate, defaultCacheRatesPercent.explicitHit) +
      tokens.completionTokens * outputRate * 100;
    if (total <= maxNumberHundredths) return total;
  }
  return tokenCostPerMillionHundredthsBig(tier, tokens);
}

/** Whether `value` is a non-negative safe integer. */
function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** {@link tokenCostPerMillionHundredths} in BigInt, for costs past 2^53 (and for counts or rates that are not integers). */
function tokenCostPerMillionHundredthsBig(tier: PriceTier, tokens: TokenCounts): bigint {
  const prompt = BigInt(tokens.promptTokens);
  const minOf = (a: bigint, b: bigint): bigint => (a < b ? a : b);
  const read = minOf(BigInt(Math.max(tokens.cacheReadInputTokens ?? 0, 0)), prompt);
  const created = minOf(BigInt(Math.max(tokens.cacheCreationInputTokens ?? 0, 0)), prompt - read);
  const isExplicit = read + created > 0n;
  const cached = isExplicit ? 0n : minOf(BigInt(Math.max(tokens.cachedPromptTokens, 0)), prompt);
  const uncached = prompt - read - created - cached;
  const input = BigInt(tier.inputMicroUsdPerMillionTokens);
  /** A tier's rate in hundredths, or `percent` of the input price when the tier gives none. */
  const rate = (given: number | undefined, percent: number): bigint =>
    given === undefined ? input * BigInt(percent) : BigInt(given) * 100n;
  const outputRate =
    tokens.reasoningTokens > 0
      ? (tier.thinkingOutputMicroUsdPerMillionTokens ?? tier.outputMicroUsdPerMillionTokens)
      : tier.outputMicroUsdPerMillionTokens;
  return (
    uncached * input * 100n +
    cached * rate(tier.cachedInputMicroUsdPerMillionTokens, defaultCacheRatesPercent.implicitHit) +
    created * rate(tier.cacheCreationInputMicroUsdPerMillionTokens, defaultCacheRatesPercent.explicitCreation) +
    read * rate(tier.cacheReadInputMicroUsdPerMillionTokens, defaultCacheRatesPercent.explicitHit) +
    BigInt(tokens.completionTokens) * BigInt(outputRate) * 100n
  );
}

/** What one request cost, and what it would have cost in the cloud. */
export interface RequestCost {
  /**
   * By the served model's price in effect when the request started, micro-USD: rounded half up when priced by tokens,
   * rounded up when priced by engine time (so that a budget counts every request that used the engine).
   */
  costMicroUsd: number;
  /** The same cost in nano-USD (the reports' figure: below the micro-USD, never 0 for a request that used the engine). */
  costNanoUsd: number;
  /** The engine time the request was measured at, whole µs (0 when not measured: an upstream request). */
  engineTimeUs: number;
  /** Whether `costNanoUsd` rests on an estimate (time pricing at a default power or electricity price). */
  costEstimated: boolean;
  /** `cloudCostMicroUsd` in nano-USD. */
  cloudCostNanoUsd: number;
  /** `effectiveFrom` of that price, epoch ms; `undefined` for the default (zero unless configured). */
  priceEffectiveAtMs?: number;
  /** The cloud model of the comparison; `undefined` when none is known. */
  cloudModel?: string;
  /** The same tokens at `cloudModel`'s list price in effect then, micro-USD; 0 when none is known. */
  cloudCostMicroUsd: number;
}

/** The prices one request is billed at, looked up once at its start (see {@link lookUpRequestPrices}). */
export interface RequestPrices {
  /** The served model's price in effect at the request's start. */
  local: ResolvedPrice;
  /** The hourly cost of engine time, when the served model is priced by time (`local.time`). */
  timeRate?: TimeRate;
  /** The list price of its nearest cloud model in effect then; `undefined` when none is known. */
  cloud?: ResolvedPrice;
}

/**
 * The prices of a request of the served model `model` that started at `startedAtMs`: looked up at the request's start,
 * so a price change applies to later requests only, and a running request's cost at each heartbeat needs no lookup.
 */
export function lookUpRequestPrices(
  book: PriceBook,
  request: { model: string; startedAtMs: number },
  machine?: MachinePower,
): RequestPrices {
  const local = book.localPrice(request.model, request.startedAtMs);
  const cloudModel = book.nearestCloudModel(request.model);
  const cloud = cloudModel === undefined ? undefined : book.cloudPrice(cloudModel, request.startedAtMs);
  const prices: RequestPrices = cloud === undefined ? { local } : { local, cloud };
  if (local.time !== undefined) prices.timeRate = resolveTimeRate(local.time, machine);
  return prices;
}

/**
 * What a request cost at its `prices`, and what its tokens would have cost at its cloud equivalent's. A model priced by
 * time (`prices.timeRate`) with a measured engine time (`engineTimeMs`) costs that time at the rate
 * ({@link timeCostNanoUsd}); otherwise the tokens cost the tiers (a time-priced model's upstream request: 0).
 */
export function costAtPrices(prices: RequestPrices, tokens: TokenCounts & { engineTimeMs?: number }): RequestCost {
  const engineTimeUs = engineTimeMicros(tokens.engineTimeMs ?? 0);
  const timed = prices.timeRate !== undefined && tokens.engineTimeMs !== undefined;
  const nano = timed ? timeCostNanoUsd(engineTimeUs, prices.timeRate!) : costNanoUsd(prices.local, tokens);
  const result: RequestCost = {
    costMicroUsd: timed ? Math.ceil(nano / 1000) : costMicroUsd(prices.local, tokens),
    costNanoUsd: nano,
    engineTimeUs,
    costEstimated: timed && prices.timeRate!.estimated,
    cloudCostMicroUsd: 0,
    cloudCostNanoUsd: 0,
  };
  if (prices.local.effectiveFromMs !== undefined) result.priceEffectiveAtMs = prices.local.effectiveFromMs;
  if (prices.cloud !== undefined) {
    result.cloudModel = prices.cloud.model;
    result.cloudCostMicroUsd = costMicroUsd(prices.cloud, tokens);
    result.cloudCostNanoUsd = costNanoUsd(prices.cloud, tokens);
  }
  return result;
}

/**
 * Prices one request of the served model `model` that started at `startedAtMs`, by the prices in effect then (a stored
 * cost is never recomputed): {@link costAtPrices} of {@link lookUpRequestPrices}.
 */
export function priceRequest(
  book: PriceBook,
  request: TokenCounts & { model: string; startedAtMs: number; engineTimeMs?: number },
  machine?: MachinePower,
): RequestCost {
  return costAtPrices(lookUpRequestPrices(book, request, machine), request);
}

/**
 * The most one request can cost at the served model's `price`, in micro-USD: `maxPromptTokens`, none of them cached,
 * and `maxCompletionTokens`, at the higher of the output and thinking-output prices (the tier the prompt selects). A
 * budget reserves this much when the request is admitted. A request that may write up to `maxCacheCreationTokens` of
 * its prompt to an explicit cache (defaults to 0) is reserved with those tokens at the cache-creation rate when that is
 * the higher (125% of input by default), so that a budget is never passed by a cache write.
 */
export function worstCaseCostMicroUsd(
  price: ResolvedPrice,
  request: { maxPromptTokens: number; maxCompletionTokens: number; maxCacheCreationTokens?: number },
): number {
  const tokens = { promptTokens: request.maxPromptTokens, cachedPromptTokens: 0, completionTokens: request.maxCompletionTokens };
  const created = Math.min(request.maxCacheCreationTokens ?? 0, request.maxPromptTokens);
  const variants = created > 0 ? [tokens, { ...tokens, cacheCreationInputTokens: created }] : [tokens];
  return Math.max(
    ...variants.flatMap((variant) => [
      costMicroUsd(price, { ...variant, reasoningTokens: 0 }),
      costMicroUsd(price, { ...variant, reasoningTokens: request.maxCompletionTokens }),
    ]),
  );
}
