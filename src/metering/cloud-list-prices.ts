import { z } from "zod";
import data from "./cloud-list-prices.json" with { type: "json" };

/**
 * The cloud regions of the list prices, one vocabulary for the whole project (price book files and their
 * `preferredRegions`, the planner's output):
 * - `intl`: Alibaba Cloud Model Studio International, prices in USD;
 * - `cn-mainland`: Model Studio Mainland China, prices in CNY.
 */
export const cloudRegionSchema = z.enum(["intl", "cn-mainland"]);
/** A cloud region; see {@link cloudRegionSchema}. */
export type CloudRegion = z.infer<typeof cloudRegionSchema>;

const micro = z.number().int().nonnegative();
const tokenCount = z.number().int().positive();

/**
 * One price tier as the source lists it, in integer micro-units of the entry's `currency` per million tokens
 * (1,000,000 micro-CNY = ¥1). The whole request is billed at the tier its prompt falls into.
 */
export const cloudListPriceTierSchema = z
  .object({
    maxPromptTokens: tokenCount.optional().describe("Inclusive upper bound, prompt tokens (32K read as 32,000); none on the last tier."),
    inputMicroPerMillionTokens: micro.describe("Prompt tokens, micro-units of `currency` per 1M tokens."),
    outputMicroPerMillionTokens: micro.describe("Generated tokens (non-thinking), micro-units of `currency` per 1M tokens."),
    thinkingOutputMicroPerMillionTokens: micro.optional().describe("Generated tokens in thinking mode, when billed apart."),
    cachedInputMicroPerMillionTokens: micro
      .optional()
      .describe(
        "Prompt tokens served from the cache (implicit cache hit) when the source gives it; else `implicitCacheHitShare` of input.",
      ),
  })
  .strict();
/** One price tier in the source's currency; see {@link cloudListPriceTierSchema}. */
export type CloudListPriceTier = z.infer<typeof cloudListPriceTierSchema>;

/** One cloud list price of one model in one region, with the figures as the source gives them. */
export const cloudListPriceSchema = z
  .object({
    model: z.string().min(1).describe("The cloud's model id."),
    region: cloudRegionSchema,
    currency: z.enum(["USD", "CNY"]).describe("The source's currency: USD in `intl`, CNY in `cn-mainland`."),
    tiers: z.array(cloudListPriceTierSchema).min(1).describe("Tiers in ascending maxPromptTokens; the last has none."),
    thinkingCounterpart: z
      .string()
      .optional()
      .describe("The model sold for thinking mode, where the provider splits a hybrid model in two (instruct and thinking)."),
    totalParameters: z.number().positive().optional().describe("Parameters of the open-weight model behind the id, when published."),
    activeParameters: z.number().positive().optional().describe("Active parameters per token, when published."),
    namePattern: z.string().optional().describe("Regular expression (case-insensitive) on a GGUF's name that means the same model."),
    source: z.string().min(1).describe("Where the figures come from."),
    sourceDate: z.string().min(1).describe("When the source is dated (the stored copies say no more than a year or two)."),
    note: z.string().optional().describe("What a reader of the figures must know (missing tiers, other mirrors)."),
  })
  .strict();
/** One cloud list price; see {@link cloudListPriceSchema}. */
export type CloudListPrice = z.infer<typeof cloudListPriceSchema>;

/** The dataset file, `cloud-list-prices.json`. */
export const cloudListPriceBookSchema = z
  .object({
    source: z.string().min(1).describe("Where the figures come from, all entries together."),
    retrieved: z.string().min(1).describe("When they were read."),
    cnyPerUsd: z.number().positive().describe("CNY per USD to compare Mainland prices with USD costs: an assumed rate, not a live quote."),
    implicitCacheHitShare: z
      .number()
      .min(0)
      .max(1)
      .describe("The implicit cache hit's price as a share of the input price, where an entry gives none (Model Studio's rule)."),
    prices: z.array(cloudListPriceSchema).min(1).describe("International entries first, then Mainland."),
  })
  .strict();
/** The dataset; see {@link cloudListPriceBookSchema}. */
export type CloudListPriceBook = z.infer<typeof cloudListPriceBookSchema>;

/**
 * Cloud list prices of Qwen models on Alibaba Cloud Model Studio: the one dataset behind the metering's default price
 * book (`default-price-book.ts`: the ledger's cloud-equivalent cost) and the planner's cloud comparison
 * (`planner/cost.ts`). The figures (`cloud-list-prices.json`, validated here when first imported) were read
 * from stored copies of public pages dated 2025 to 2026 and could not be re-checked: both consumers show them as list
 * prices to verify. Parameter counts are the Qwen3 model cards' (Qwen3-30B-A3B: 30.5B total, 3.3B active; Qwen3-32B:
 * 32.8B).
 */
export const cloudListPriceBook: Readonly<CloudListPriceBook> = Object.freeze(cloudListPriceBookSchema.parse(data));

/**
 * `microAmount` micro-units of `currency` in integer micro-USD: CNY divided by the dataset's `cnyPerUsd` and rounded
 * half up, USD as it is.
 */
export function toMicroUsd(microAmount: number, currency: CloudListPrice["currency"]): number {
  return currency === "USD" ? microAmount : Math.round(microAmount / cloudListPriceBook.cnyPerUsd);
}
