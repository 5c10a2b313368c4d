import { readFile } from "node:fs/promises";
import { z } from "zod";
import { MoestroError } from "../errors/index.js";
import { defaultPriceBookData } from "./default-price-book.js";

/**
 * One price tier: what a request costs per million tokens when its prompt has at most `maxPromptTokens` tokens. The
 * whole request is billed at the tier its prompt falls into (the way Alibaba Cloud Model Studio prices Qwen models).
 */
export const priceTierSchema = z
  .object({
    maxPromptTokens: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Inclusive upper bound of the tier, in prompt tokens of the request. Left out on the last tier, which has no bound."),
    inputMicroUsdPerMillionTokens: z
      .number()
      .int()
      .nonnegative()
      .describe("Prompt tokens not served from a cache, micro-USD per 1M tokens."),
    outputMicroUsdPerMillionTokens: z.number().int().nonnegative().describe("Generated tokens, micro-USD per 1M tokens."),
    thinkingOutputMicroUsdPerMillionTokens: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("Generated tokens of a request that reasoned (thinking mode), micro-USD per 1M tokens. Defaults to the output price."),
    cachedInputMicroUsdPerMillionTokens: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe(
        "Prompt tokens served from the implicit cache (a reused KV prefix), micro-USD per 1M tokens. Defaults to 20% of the input price (Model Studio's implicit-cache hit rate).",
      ),
    cacheCreationInputMicroUsdPerMillionTokens: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe(
        "Prompt tokens written to an explicit cache (`cache_control`), micro-USD per 1M tokens. Defaults to 125% of the input price (Model Studio's explicit-cache creation rate).",
      ),
    cacheReadInputMicroUsdPerMillionTokens: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe(
        "Prompt tokens read from an explicit cache (`cache_control`), micro-USD per 1M tokens. Defaults to 10% of the input price (Model Studio's explicit-cache hit rate).",
      ),
  })
  .strict();

/** A local model's running cost per hour, turned into per-token prices by the throughput the operator measured. */
export const hourlyCostSchema = z
  .object({
    microUsdPerHour: z.number().int().nonnegative().describe("Hardware amortisation plus electricity for the model, micro-USD per hour."),
    inputTokensPerSecond: z.number().positive().describe("Prompt tokens processed per second (prefill throughput)."),
    outputTokensPerSecond: z.number().positive().describe("Tokens generated per second, all parallel sequences together."),
  })
  .strict();

/**
 * A local model priced by the engine time its requests take (time pricing, docs/studio.md "Cost of local tokens"): the
 * engine time of a request times `microUsdPerHour + watts / 1000 × microUsdPerKwh`. Every field is optional; one left
 * out takes its default, and a cost that rests on a default power or electricity price is marked as an estimate.
 */
export const localTimeCostSchema = z
  .object({
    microUsdPerHour: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("Amortised hardware (or rental) per hour of engine time, micro-USD per hour. Defaults to 0."),
    watts: z
      .number()
      .nonnegative()
      .optional()
      .describe("Power drawn while the engine runs, watts. Defaults to the planner's typical power for this machine (an estimate)."),
    microUsdPerKwh: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("Electricity price, micro-USD per kWh. Defaults to `defaultElectricityMicroUsdPerKwh` (an estimate)."),
  })
  .strict();

const effectiveFromSchema = z
  .string()
  .refine((value) => /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(value) && !Number.isNaN(Date.parse(value)), {
    message: "must be an ISO 8601 date (2025-09-01, read as 00:00 UTC) or date-time (2025-09-01T12:00:00Z)",
  })
  .describe(
    "When the price starts to apply, ISO 8601; a date alone means 00:00 UTC. A later entry for the same model replaces it from then on.",
  );

/** How an entry prices tokens: explicit tiers, or (local models) an hourly cost. Exactly one is given. */
const priceEntryBaseSchema = z
  .object({
    model: z.string().min(1).describe("The model id: a served model's id (kind local) or the cloud provider's model name (kind cloud)."),
    aliases: z.array(z.string().min(1)).default([]).describe("Other ids with the same price. Defaults to none."),
    kind: z
      .enum(["cloud", "local"])
      .describe("cloud: a provider's list price, used for the cloud-equivalent cost. local: what a model served here costs you."),
    region: z.string().optional().describe("The provider region of a cloud price (intl, cn-mainland). Defaults to none."),
    effectiveFrom: effectiveFromSchema,
    tiers: z.array(priceTierSchema).min(1).optional().describe("Tiers in ascending maxPromptTokens; the last has none."),
    hourly: hourlyCostSchema.optional().describe("Local models only: an hourly cost instead of tiers."),
    time: localTimeCostSchema
      .optional()
      .describe(
        "Local models only: priced by engine time at this hourly cost (fields left out take the book's `localTime`, then the defaults).",
      ),
    cloudEquivalent: z.string().optional().describe("Local models only: the cloud model to compare with. Defaults to the nearest by name."),
    source: z.string().optional().describe("Where the figures come from."),
    sourceDate: z.string().optional().describe("When the source was read."),
    verify: z.boolean().default(false).describe("true marks a list price to verify before relying on it. Defaults to false."),
    note: z.string().optional().describe("Anything a reader of the figures must know (conversions, missing tiers)."),
  })
  .strict();

/** One dated price of one model. */
export const priceEntrySchema = priceEntryBaseSchema.superRefine((entry, context) => {
  const given = [entry.tiers, entry.hourly, entry.time].filter((field) => field !== undefined).length;
  if (given !== 1) {
    context.addIssue({
      code: "custom",
      message: entry.time === undefined ? "give exactly one of tiers and hourly" : "give exactly one of tiers, hourly and time",
      path: ["tiers"],
    });
  }
  if (entry.hourly !== undefined && entry.kind !== "local")
    context.addIssue({ code: "custom", message: "hourly is for local models only", path: ["hourly"] });
  if (entry.time !== undefined && entry.kind !== "local")
    context.addIssue({ code: "custom", message: "time is for local models only", path: ["time"] });
  if (entry.cloudEquivalent !== undefined && entry.kind !== "local") {
    context.addIssue({ code: "custom", message: "cloudEquivalent is for local models only", path: ["cloudEquivalent"] });
  }
  checkTiers(entry.tiers, context);
});

/** The token price of models that have no local entry; when none is set they are priced by engine time (`localTime`). */
const localDefaultSchema = z
  .object({
    tiers: z.array(priceTierSchema).min(1).optional(),
    hourly: hourlyCostSchema.optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if (value.tiers !== undefined && value.hourly !== undefined)
      context.addIssue({ code: "custom", message: "give at most one of tiers and hourly" });
    checkTiers(value.tiers, context);
  });

/**
 * A price book file (JSON). Prices are integer micro-USD per million tokens, with the unit in every field name. The
 * default book ({@link defaultPriceBookData}) carries cloud list prices; an operator's file adds to it (or replaces it
 * with `includeDefaults: false`).
 */
export const priceBookSchema = z
  .object({
    version: z.literal(1).describe("The format version, 1."),
    includeDefaults: z
      .boolean()
      .default(true)
      .describe("Whether the built-in cloud list prices are kept beside this file's entries. Defaults to true."),
    preferredRegions: z
      .array(z.string())
      .default(["intl", "cn-mainland"])
      .describe("Which region's price wins when a cloud model has several. Defaults to intl, then cn-mainland."),
    defaultCloudEquivalent: z.string().optional().describe("The cloud model to compare with when no name is near. Defaults to none."),
    localDefault: localDefaultSchema
      .optional()
      .describe("What a served model without a local entry costs, by tokens. Defaults to none: time pricing (`localTime`)."),
    localTime: localTimeCostSchema
      .optional()
      .describe(
        "The hourly cost of time pricing, for served models without a tiers or hourly price (and the fields a local entry's `time` leaves out). Defaults to the planner's power for this machine at the default electricity price, an estimate.",
      ),
    batchPriceRatio: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        "What a line of a batch (the Batch API, docs/batch.md) pays, as a fraction of the real-time price, for the served model and its cloud comparison alike. Defaults to 0.5: OpenAI's and Alibaba Cloud Model Studio's (DashScope) batch discount of 50%.",
      ),
    prices: z.array(priceEntrySchema).default([]),
  })
  .strict();

function checkTiers(tiers: ReadonlyArray<z.infer<typeof priceTierSchema>> | undefined, context: z.RefinementCtx): void {
  if (tiers === undefined) return;
  tiers.forEach((tier, index) => {
    const isLast = index === tiers.length - 1;
    if (isLast && tier.maxPromptTokens !== undefined)
      context.addIssue({ code: "custom", message: "the last tier has no maxPromptTokens", path: ["tiers", index] });
    if (!isLast && tier.maxPromptTokens === undefined)
      context.addIssue({ code: "custom", message: "only the last tier may leave out maxPromptTokens", path: ["tiers", index] });
    const previous = tiers[index - 1]?.maxPromptTokens;
    if (previous !== undefined && tier.maxPromptTokens !== undefined && tier.maxPromptTokens <= previous) {
      context.addIssue({ code: "custom", message: "maxPromptTokens must grow from tier to tier", path: ["tiers", index] });
    }
  });
}

/** A price book file as written (before defaults). */
export type PriceBookInput = z.input<typeof priceBookSchema>;
/** One price tier, per million tokens in micro-USD. */
export type PriceTier = z.infer<typeof priceTierSchema>;
/** An hourly cost of a local model. */
export type HourlyCost = z.infer<typeof hourlyCostSchema>;
/** The hourly cost of time pricing, as written (fields left out take defaults). */
export type LocalTimeCost = z.infer<typeof localTimeCostSchema>;
/** One dated price entry, validated. */
export type PriceEntry = z.infer<typeof priceEntrySchema>;

/** The price that applies to one model at one time. */
export interface ResolvedPrice {
  /** The model id or cloud model name the price belongs to. */
  model: string;
  /** Tiers in ascending `maxPromptTokens` (an hourly cost already turned into one tier). */
  tiers: readonly PriceTier[];
  /** The entry's `effectiveFrom`, epoch ms; `undefined` for the book's `localDefault` (or zero). */
  effectiveFromMs?: number;
  /**
   * Set when the model is priced by engine time (then `tiers` is one zero tier): the hourly cost as written, the
   * entry's `time` over the book's `localTime` field by field. A request without a measured engine time (an upstream
   * request) costs its `tiers`, 0.
   */
  time?: LocalTimeCost;
}

/** A loaded, validated price book. Immutable: a change of prices is a new entry with a later `effectiveFrom`. */
export interface PriceBook {
  /** Every entry, the defaults included, in file order. */
  readonly entries: readonly PriceEntry[];
  /**
   * What the served model `model` costs for a request that started at `atMs`: its local entry in effect then (the
   * latest `effectiveFrom` not after `atMs`: `tiers` or `hourly` by tokens, `time` by engine time), else the book's
   * `localDefault` (by tokens), else time pricing at the book's `localTime`.
   */
  localPrice(model: string, atMs: number): ResolvedPrice;
  /** The book's `localTime` (time pricing's hourly cost as written); `{}` when it has none. */
  readonly localTime: LocalTimeCost;
  /** The list price of the cloud model `cloudModel` at `atMs` (preferred region first), or `undefined`. */
  cloudPrice(cloudModel: string, atMs: number): ResolvedPrice | undefined;
  /**
   * The cloud model whose list price stands for the served model `model`: its local entry's `cloudEquivalent`, else the
   * cloud model nearest by name (same family, then the longest shared prefix, then the shorter name), else the book's
   * `defaultCloudEquivalent`, else `undefined`.
   */
  nearestCloudModel(model: string): string | undefined;
  /**
   * What a batch line pays as a fraction of the real-time price (the book's `batchPriceRatio`, else
   * {@link defaultBatchPriceRatio}).
   */
  readonly batchPriceRatio: number;
}

/** A batch line's price as a fraction of the real-time price when the book does not say: 50%, as OpenAI and DashScope bill batches. */
export const defaultBatchPriceRatio = 0.5;

/**
 * Validates `input` as a price book (merged with the default list prices unless `includeDefaults` is false) and indexes
 * it.
 *
 * @throws {MoestroError} `invalid_request` naming the first invalid field.
 */
export function createPriceBook(input: unknown = defaultPriceBookData): PriceBook {
  const book = parseOrThrow(input, "price book");
  const defaults =
    book.includeDefaults && input !== defaultPriceBookData ? parseOrThrow(defaultPriceBookData, "default price book") : undefined;
  const entries = [...(defaults?.prices ?? []), ...book.prices];
  const dated = entries.map((entry) => ({
    entry,
    effectiveFromMs: Date.parse(entry.effectiveFrom.length === 10 ? `${entry.effectiveFrom}T00:00:00Z` : entry.effectiveFrom),
  }));
  const regionRank = (region: string | undefined): number => {
    const index = region === undefined ? -1 : book.preferredRegions.indexOf(region);
    return index === -1 ? book.preferredRegions.length : index;
  };
  const localDefault = book.localDefault ?? defaults?.localDefault;
  const localTime: LocalTimeCost = { ...defaults?.localTime, ...book.localTime };
  const defaultCloudEquivalent = book.defaultCloudEquivalent ?? defaults?.defaultCloudEquivalent;
  const zero: PriceTier = { inputMicroUsdPerMillionTokens: 0, outputMicroUsdPerMillionTokens: 0 };
  const nearestByModel = new Map<string, string | undefined>();

  const find = (kind: PriceEntry["kind"], model: string, atMs: number): { entry: PriceEntry; effectiveFromMs: number } | undefined => {
    let best: { entry: PriceEntry; effectiveFromMs: number } | undefined;
    for (const candidate of dated) {
      const { entry, effectiveFromMs } = candidate;
      if (entry.kind !== kind || effectiveFromMs > atMs || (entry.model !== model && !entry.aliases.includes(model))) continue;
      if (
        best === undefined ||
        regionRank(entry.region) < regionRank(best.entry.region) ||
        (regionRank(entry.region) === regionRank(best.entry.region) && effectiveFromMs >= best.effectiveFromMs)
      ) {
        best = candidate;
      }
    }
    return best;
  };
  const cloudNames = [...new Set(entries.filter((entry) => entry.kind === "cloud").flatMap((entry) => [entry.model, ...entry.aliases]))];

  return {
    entries,
    batchPriceRatio: book.batchPriceRatio ?? defaultBatchPriceRatio,
    localTime,
    localPrice(model, atMs) {
      const found = find("local", model, atMs);
      if (found?.entry.time !== undefined)
        return { model, tiers: [zero], effectiveFromMs: found.effectiveFromMs, time: { ...localTime, ...found.entry.time } };
      if (found !== undefined) return { model, tiers: tiersOf(found.entry), effectiveFromMs: found.effectiveFromMs };
      if (localDefault?.tiers !== undefined) return { model, tiers: localDefault.tiers };
      if (localDefault?.hourly !== undefined) return { model, tiers: [hourlyToTier(localDefault.hourly)] };
      return { model, tiers: [zero], time: localTime };
    },
    cloudPrice(cloudModel, atMs) {
      const found = find("cloud", cloudModel, atMs);
      return found === undefined
        ? undefined
        : { model: found.entry.model, tiers: tiersOf(found.entry), effectiveFromMs: found.effectiveFromMs };
    },
    nearestCloudModel(model) {
      // The book never changes once built, so the answer per model is kept (it is asked on every request).
      if (nearestByModel.has(model)) return nearestByModel.get(model);
      const explicit = [...dated]
        .filter(
          ({ entry }) =>
            entry.kind === "local" && entry.cloudEquivalent !== undefined && (entry.model === model || entry.aliases.includes(model)),
        )
        .sort((a, b) => b.effectiveFromMs - a.effectiveFromMs)[0];
      const nearest =
        explicit !== undefined ? explicit.entry.cloudEquivalent : (nearestByName(model, cloudNames) ?? defaultCloudEquivalent);
      if (nearestByModel.size < 1024) nearestByModel.set(model, nearest);
      return nearest;
    },
  };
}

/**
 * Reads and validates a price book file (JSON, {@link priceBookSchema}); without a path, the default book.
 *
 * @throws {MoestroError} `invalid_request` when the file cannot be read, is not JSON, or is not a valid price book.
 */
export async function loadPriceBook(path?: string): Promise<PriceBook> {
  if (path === undefined) return createPriceBook();
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new MoestroError("invalid_request", `Cannot read the price book ${path}: ${(error as Error).message}`, {
      param: "metering.priceBookPath",
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (error) {
    throw new MoestroError("invalid_request", `The price book ${path} is not valid JSON: ${(error as Error).message}`, {
      param: "metering.priceBookPath",
      cause: error,
    });
  }
  return createPriceBook(json);
}

/**
 * The one tier an hourly cost amounts to: `microUsdPerHour` spread over the tokens an hour processes, rounded to whole
 * micro-USD per million tokens.
 */
export function hourlyToTier(hourly: HourlyCost): PriceTier {
  const perMillion = (tokensPerSecond: number): number => Math.round((hourly.microUsdPerHour * 1_000_000) / (3600 * tokensPerSecond));
  return {
    inputMicroUsdPerMillionTokens: perMillion(hourly.inputTokensPerSecond),
    outputMicroUsdPerMillionTokens: perMillion(hourly.outputTokensPerSecond),
  };
}

function tiersOf(entry: PriceEntry): readonly PriceTier[] {
  return entry.tiers ?? [hourlyToTier(entry.hourly!)];
}

function parseOrThrow(input: unknown, what: string): z.infer<typeof priceBookSchema> {
  const parsed = priceBookSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MoestroError("invalid_request", `Invalid ${what}: '${issue.path.join(".")}' ${issue.message}.`, {
      param: "metering.priceBookPath",
    });
  }
  return parsed.data;
}

/** Lower case, no folder, no `.gguf`, `_` as `-`, and trailing quantisation tags (`q4-k-m`, `f16`, `gguf`) dropped. */
function normalizeModelName(name: string): string {
  const base = name
    .toLowerCase()
    .split(/[\\/]/)
    .at(-1)!
    .replace(/\.gguf$/, "")
    .replace(/_/g, "-");
  const parts = base.split("-");
  while (parts.length > 1 && /^(q\d.*|iq\d.*|[kmsl]|xl|xs|xxs|f16|bf16|fp16|f32|fp8|gguf|ud|imatrix)$/.test(parts.at(-1)!)) parts.pop();
  return parts.join("-");
}

function nearestByName(model: string, cloudNames: readonly string[]): string | undefined {
  const local = normalizeModelName(model);
  const family = local.split("-")[0]!;
  let best: { name: string; score: number } | undefined;
  for (const name of cloudNames) {
    const cloud = normalizeModelName(name);
    if (cloud.split("-")[0] !== family) continue;
    let score = 0;
    while (score < local.length && score < cloud.length && local[score] === cloud[score]) score++;
    if (
      best === undefined ||
      score > best.score ||
      (score === best.score && (name.length < best.name.length || (name.length === best.name.length && name < best.name)))
    ) {
      best = { name, score };
    }
  }
  return best?.name;
}
