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
}

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
 * - Uncached prompt tokens pay the input price, cached ones the cached-input price (the input price when not set).
 * - Generated tokens pay the output price, or the thinking-output price for the whole output when the request reasoned
 *   (`reasoningTokens > 0`), as Model Studio bills hybrid Qwen models.
 *
 * Computed in BigInt: tokens times micro-USD per million can pass 2^53.
 */
export function costMicroUsd(price: ResolvedPrice, tokens: TokenCounts): number {
  return Number((tokenCostPerMillion(price, tokens) + 500_000n) / 1_000_000n);
}

/**
 * The cost of `tokens` at `price` as {@link costMicroUsd} computes it, in integer nano-USD (rounded half up once per
 * request), so that a request of a few tokens at a low price does not round to 0.
 */
export function costNanoUsd(price: ResolvedPrice, tokens: TokenCounts): number {
  return Number((tokenCostPerMillion(price, tokens) * 1000n + 500_000n) / 1_000_000n);
}

/** The cost of `tokens` at `price`, in micro-USD per million (see {@link costMicroUsd}). */
function tokenCostPerMillion(price: ResolvedPrice, tokens: TokenCounts): bigint {
  const tier = selectTier(price.tiers, tokens.promptTokens);
  const cached = BigInt(Math.min(tokens.cachedPromptTokens, tokens.promptTokens));
  const uncached = BigInt(tokens.promptTokens) - cached;
  const outputRate =
    tokens.reasoningTokens > 0
      ? (tier.thinkingOutputMicroUsdPerMillionTokens ?? tier.outputMicroUsdPerMillionTokens)
      : tier.outputMicroUsdPerMillionTokens;
  const perMillion =
    uncached * BigInt(tier.inputMicroUsdPerMillionTokens) +
    cached * BigInt(tier.cachedInputMicroUsdPerMillionTokens ?? tier.inputMicroUsdPerMillionTokens) +
    BigInt(tokens.completionTokens) * BigInt(outputRate);
  return perMillion;
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
 * budget reserves this much when the request is admitted.
 */
export function worstCaseCostMicroUsd(price: ResolvedPrice, request: { maxPromptTokens: number; maxCompletionTokens: number }): number {
  const tokens = { promptTokens: request.maxPromptTokens, cachedPromptTokens: 0, completionTokens: request.maxCompletionTokens };
  return Math.max(
    costMicroUsd(price, { ...tokens, reasoningTokens: 0 }),
    costMicroUsd(price, { ...tokens, reasoningTokens: request.maxCompletionTokens }),
  );
}
