import { costMicroUsd, type TokenCounts } from "../metering/cost.js";
import { loadPriceBook, type PriceBook, type ResolvedPrice } from "../metering/price-book.js";

/** What one request cost. Money is integer micro-USD, as everywhere in moestro. */
export interface RequestPrice {
  /** At the model's own price (see {@link createEvalPricer}), micro-USD. */
  costMicroUsd: number;
  /** The cloud model standing for it in the price book, when one is known. */
  cloudModel?: string;
  /** The same tokens at `cloudModel`'s list price, micro-USD; 0 when none is known. */
  cloudCostMicroUsd: number;
}

/** Prices the requests of an eval. */
export interface EvalPricer {
  /** Prices one request of `model` that started at `startedAtMs` (epoch ms) and used `tokens`. */
  price(model: string, tokens: TokenCounts, startedAtMs: number): RequestPrice;
}

/** Price overrides of {@link createEvalPricer}, for models the price book does not price. */
export interface EvalPriceOverrides {
  /**
   * Overrides the model's own price: USD per 1M prompt tokens (cached ones included). Given alone, output is priced at
   * 0. Defaults to the price book.
   */
  inputUsdPerMillionTokens?: number;
  /** Overrides the model's own price: USD per 1M generated tokens (reasoning included). Defaults to the price book. */
  outputUsdPerMillionTokens?: number;
}

/**
 * Creates an {@link EvalPricer} on `book`, moestro's price book (`src/metering/price-book.ts`, integer micro-USD per 1M
 * tokens). The model's own price is, first found:
 * 1. `inputUsdPerMillionTokens` / `outputUsdPerMillionTokens` when either is given (rounded to whole micro-USD per 1M);
 * 2. the book's local entry for the model (a model served on your hardware, priced per token or per hour);
 * 3. the book's cloud list price of a model of that exact name (an eval against a cloud API);
 * 4. the book's `localDefault`, else 0.
 *
 * The cloud-equivalent cost uses the book's nearest cloud model (`nearestCloudModel`).
 *
 * @throws {RangeError} when an override is negative or not finite.
 */
export function createEvalPricer(book: PriceBook, overrides: EvalPriceOverrides = {}): EvalPricer {
  const { inputUsdPerMillionTokens: input, outputUsdPerMillionTokens: output } = overrides;
  for (const value of [input, output]) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) throw new RangeError(`a price must be a number ≥ 0, got ${value}`);
  }
  const override: ResolvedPrice | undefined =
    input === undefined && output === undefined
      ? undefined
      : {
          model: "override",
          tiers: [
            {
              inputMicroUsdPerMillionTokens: Math.round((input ?? 0) * 1e6),
              // "Cached ones included": the override prices cached prompt tokens as the others (not the book's 20% default).
              cachedInputMicroUsdPerMillionTokens: Math.round((input ?? 0) * 1e6),
              outputMicroUsdPerMillionTokens: Math.round((output ?? 0) * 1e6),
            },
          ],
        };
  const ownPrice = (model: string, atMs: number): ResolvedPrice => {
    if (override) return override;
    const local = book.localPrice(model, atMs);
    if (local.effectiveFromMs !== undefined) return local;
    return book.cloudPrice(model, atMs) ?? local;
  };
  return {
    price(model, tokens, startedAtMs) {
      const result: RequestPrice = { costMicroUsd: costMicroUsd(ownPrice(model, startedAtMs), tokens), cloudCostMicroUsd: 0 };
      const cloudModel = book.nearestCloudModel(model);
      const cloudPrice = cloudModel === undefined ? undefined : book.cloudPrice(cloudModel, startedAtMs);
      if (cloudPrice) {
        result.cloudModel = cloudPrice.model;
        result.cloudCostMicroUsd = costMicroUsd(cloudPrice, tokens);
      }
      return result;
    },
  };
}

/**
 * Loads the price book at `priceBookPath` (the built-in book without one) and creates an {@link EvalPricer} on it.
 *
 * @throws {MoestroError} `invalid_request` when the price book file cannot be read or is invalid.
 * @throws {RangeError} when an override price is negative.
 */
export async function loadEvalPricer(options: EvalPriceOverrides & { priceBookPath?: string }): Promise<EvalPricer> {
  return createEvalPricer(await loadPriceBook(options.priceBookPath), options);
}
