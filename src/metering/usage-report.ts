import {
  addUsageTotals,
  zeroUsageTotals,
  type UsageGroupBy,
  type UsageRange,
  type UsageRepository,
  type UsageSummaryRow,
} from "../store/index.js";
import type { MachinePower } from "../planner/machine-power.js";
import type { PriceBook } from "./price-book.js";
import { resolveTimeRate, type TimeRate } from "./time-pricing.js";

/** One row of a usage report: a group's totals, named for people. */
export interface UsageReportRow extends UsageSummaryRow {
  /**
   * The group's name: the key's name (`admin` for the admin key, `(no key)` for requests made with key checks off, the
   * id when the key is gone), the model id, or the day `YYYY-MM-DD`.
   */
  name: string;
  /**
   * Measured cost per 1M generated tokens, micro-USD: `costNanoUsd × 1000 / completionTokens` (all the group's cost,
   * prefill included, over its output tokens, as the planner's figure is per output token); `undefined` without output.
   */
  measuredMicroUsdPerMillionOutputTokens?: number;
  /**
   * Model rows of a report with pricing: how the model is priced now (`time`: by engine time at `rate`; `tokens`: by a
   * `tiers` or `hourly` price), and the planner's predicted cost per 1M output tokens at that rate, when it can plan it.
   */
  pricing?: ModelPricing;
}

/** How a served model is priced now, and what the planner predicts it costs (see {@link UsageReportRow.pricing}). */
export interface ModelPricing {
  /** `time`: by engine time; `tokens`: by the price book's `tiers` or `hourly` entry (which override time pricing). */
  basis: "time" | "tokens";
  /** The hourly cost of engine time, when `basis` is `time`. */
  rate?: TimeRate;
  /**
   * The planner's predicted cost per 1M output tokens at `rate`, micro-USD: `rate.microUsdPerHour × 10^6 / 3600 /
   * tokens per second`, at its predicted decode speed of one sequence alone (`single`) and of all sequences together
   * (`busy`). `undefined` when the server has no planner, the model is not served, or it does not fit.
   */
  planned?: { singleMicroUsdPerMillionOutputTokens: number; busyMicroUsdPerMillionOutputTokens: number };
}

/** What a report needs to show the pricing beside the ledger's figures. */
export interface UsagePricingContext {
  /** The price book in use. */
  priceBook: PriceBook;
  /** The machine's power as time pricing assumes it. Defaults to {@link defaultMachinePower}. */
  machine?: MachinePower;
  /** The planner's predicted decode speeds of a served model, tokens per second; `undefined` when it cannot plan it. */
  plannedSpeeds?(model: string): Promise<{ singleTokensPerSecond: number; aggregateTokensPerSecond: number } | undefined>;
  /** Clock, epoch ms (which price is in effect now). Defaults to `Date.now`. */
  now?: () => number;
}

/** Usage totals over a time range, grouped. */
export interface UsageReport {
  /** How rows are grouped. */
  groupBy: UsageGroupBy;
  /** Inclusive start, epoch ms; `undefined` for the beginning. */
  fromMs?: number;
  /** Exclusive end, epoch ms; `undefined` for no end. */
  toMs?: number;
  /** One row per group, ordered by group. */
  rows: UsageReportRow[];
  /** The sum of every row, named `total`. */
  total: UsageReportRow;
  /**
   * The hourly cost of time pricing now (the book's `localTime` over the defaults), for models without their own
   * entry; `undefined` when the report was built without a pricing context.
   */
  timeRate?: TimeRate;
  /** Requests of the range that cost $0 for want of a price (see {@link UnpricedUsage}); with a pricing context only. */
  unpriced?: UnpricedUsage;
}

/**
 * The requests of a range that cost $0 because their model has no token price: a model the price book prices by engine
 * time (no `tiers` or `hourly` entry, no `localDefault`) whose requests measured no engine time, which is what an
 * upstream's model (a gateway pool) is. They count against no budget. Found per model: a model whose rows in the range
 * cost nothing, measured no engine time and hold tokens, and that the book prices by time now. A model given zero
 * `tiers` on purpose is priced, not listed.
 */
export interface UnpricedUsage {
  /** Such requests (errors left out). */
  requests: number;
  /** Their models, in the order of the ledger's model groups. */
  models: string[];
}

/** The name of the group of requests made while key checks were off. */
export const noKeyGroupName = "(no key)";

/**
 * Builds a usage report from the ledger: totals per key, model or day over `[fromMs, toMs)`, each with its cost, what
 * the same tokens would have cost at the cloud list price of the nearest model, and its measured cost per 1M output
 * tokens. With `pricing`, the report also says how local models are priced now (`timeRate`) and, per model row, the
 * model's pricing and the planner's predicted cost per 1M output tokens.
 */
export async function buildUsageReport(
  usage: UsageRepository,
  options: UsageRange & { groupBy: UsageGroupBy; pricing?: UsagePricingContext },
): Promise<UsageReport> {
  const summaries = await usage.summarize(options);
  const rows = summaries.map((summary): UsageReportRow => withMeasured({ ...summary, name: nameOf(options.groupBy, summary) }));
  const pricing = options.pricing;
  if (pricing !== undefined && options.groupBy === "model") {
    await Promise.all(
      rows.map(async (row) => {
        if (row.group !== null) row.pricing = await modelPricing(pricing, row.group);
      }),
    );
  }
  const total: UsageReportRow = {
    name: "total",
    group: null,
    requests: 0,
    errorRequests: 0,
    abortedRequests: 0,
    interruptedRequests: 0,
    estimatedRequests: 0,
    ...zeroUsageTotals(),
  };
  for (const row of rows) {
    total.requests += row.requests;
    total.errorRequests += row.errorRequests;
    total.abortedRequests += row.abortedRequests;
    total.interruptedRequests += row.interruptedRequests;
    total.estimatedRequests += row.estimatedRequests;
    addUsageTotals(total, row);
  }
  const report: UsageReport = { groupBy: options.groupBy, rows, total: withMeasured(total) };
  if (pricing !== undefined) report.timeRate = resolveTimeRate(pricing.priceBook.localTime, pricing.machine);
  if (pricing !== undefined) {
    const byModel = options.groupBy === "model" ? summaries : await usage.summarize({ ...options, groupBy: "model" });
    report.unpriced = findUnpriced(byModel, pricing.priceBook, (pricing.now ?? Date.now)());
  }
  if (options.fromMs !== undefined) report.fromMs = options.fromMs;
  if (options.toMs !== undefined) report.toMs = options.toMs;
  return report;
}

/** The {@link UnpricedUsage} of the ledger's model groups, by the book's prices at `nowMs`. */
function findUnpriced(byModel: readonly UsageSummaryRow[], priceBook: PriceBook, nowMs: number): UnpricedUsage {
  const unpriced: UnpricedUsage = { requests: 0, models: [] };
  for (const row of byModel) {
    if (row.group === null || row.costNanoUsd !== 0 || row.engineTimeUs !== 0 || row.promptTokens + row.completionTokens === 0) continue;
    if (priceBook.localPrice(row.group, nowMs).time === undefined) continue;
    unpriced.requests += Math.max(0, row.requests - row.errorRequests);
    unpriced.models.push(row.group);
  }
  return unpriced;
}

function nameOf(groupBy: UsageGroupBy, summary: UsageSummaryRow): string {
  if (groupBy !== "key") return summary.group ?? "";
  if (summary.group === null) return noKeyGroupName;
  return summary.keyName ?? summary.group;
}

function withMeasured(row: UsageReportRow): UsageReportRow {
  if (row.completionTokens > 0) row.measuredMicroUsdPerMillionOutputTokens = (row.costNanoUsd * 1000) / row.completionTokens;
  return row;
}

/** How `model` is priced now, and the planner's prediction at that price (see {@link ModelPricing}). */
async function modelPricing(context: UsagePricingContext, model: string): Promise<ModelPricing> {
  const price = context.priceBook.localPrice(model, (context.now ?? Date.now)());
  if (price.time === undefined) return { basis: "tokens" };
  const rate = resolveTimeRate(price.time, context.machine);
  const pricing: ModelPricing = { basis: "time", rate };
  const speeds = await context.plannedSpeeds?.(model).catch(() => undefined);
  if (speeds !== undefined && speeds.singleTokensPerSecond > 0 && speeds.aggregateTokensPerSecond > 0) {
    const perMillion = (tokensPerSecond: number): number => (rate.microUsdPerHour * 1e6) / 3600 / tokensPerSecond;
    pricing.planned = {
      singleMicroUsdPerMillionOutputTokens: perMillion(speeds.singleTokensPerSecond),
      busyMicroUsdPerMillionOutputTokens: perMillion(speeds.aggregateTokensPerSecond),
    };
  }
  return pricing;
}
