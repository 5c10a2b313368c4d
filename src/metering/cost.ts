import type { PriceBook, PriceTier, ResolvedPrice } from "./price-book.js";

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
  return Number((perMillion + 500_000n) / 1_000_000n);
}

/** What one request cost, and what it would have cost in the cloud. */
export interface RequestCost {
  /** By the served model's price in effect when the request started, micro-USD. */
  costMicroUsd: number;
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
  /** The list price of its nearest cloud model in effect then; `undefined` when none is known. */
  cloud?: ResolvedPrice;
}

/**
 * The prices of a request of the served model `model` that started at `startedAtMs`: looked up at the request's start,
 * so a price change applies to later requests only, and a running request's cost at each heartbeat needs no lookup.
 */
export function lookUpRequestPrices(book: PriceBook, request: { model: string; startedAtMs: number }): RequestPrices {
  const local = book.localPrice(request.model, request.startedAtMs);
  const cloudModel = book.nearestCloudModel(request.model);
  const cloud = cloudModel === undefined ? undefined : book.cloudPrice(cloudModel, request.startedAtMs);
  return cloud === undefined ? { local } : { local, cloud };
}

/** What `tokens` cost at a request's `prices`, and at its cloud equivalent's. */
export function costAtPrices(prices: RequestPrices, tokens: TokenCounts): RequestCost {
  const result: RequestCost = { costMicroUsd: costMicroUsd(prices.local, tokens), cloudCostMicroUsd: 0 };
  if (prices.local.effectiveFromMs !== undefined) result.priceEffectiveAtMs = prices.local.effectiveFromMs;
  if (prices.cloud !== undefined) {
    result.cloudModel = prices.cloud.model;
    result.cloudCostMicroUsd = costMicroUsd(prices.cloud, tokens);
  }
  return result;
}

/**
 * Prices one request of the served model `model` that started at `startedAtMs`, by the prices in effect then (a stored
 * cost is never recomputed): {@link costAtPrices} of {@link lookUpRequestPrices}.
 */
export function priceRequest(book: PriceBook, request: TokenCounts & { model: string; startedAtMs: number }): RequestCost {
  return costAtPrices(lookUpRequestPrices(book, request), request);
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
