import {
  addUsageTotals,
  zeroUsageTotals,
  type UsageGroupBy,
  type UsageRange,
  type UsageRepository,
  type UsageSummaryRow,
} from "../store/index.js";

/** One row of a usage report: a group's totals, named for people. */
export interface UsageReportRow extends UsageSummaryRow {
  /**
   * The group's name: the key's name (`admin` for the admin key, `(no key)` for requests made with key checks off, the
   * id when the key is gone), the model id, or the day `YYYY-MM-DD`.
   */
  name: string;
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
}

/** The name of the group of requests made while key checks were off. */
export const noKeyGroupName = "(no key)";

/**
 * Builds a usage report from the ledger: totals per key, model or day over `[fromMs, toMs)`, each with its cost and
 * what the same tokens would have cost at the cloud list price of the nearest model.
 */
export async function buildUsageReport(usage: UsageRepository, options: UsageRange & { groupBy: UsageGroupBy }): Promise<UsageReport> {
  const summaries = await usage.summarize(options);
  const rows = summaries.map((summary): UsageReportRow => ({ ...summary, name: nameOf(options.groupBy, summary) }));
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
  const report: UsageReport = { groupBy: options.groupBy, rows, total };
  if (options.fromMs !== undefined) report.fromMs = options.fromMs;
  if (options.toMs !== undefined) report.toMs = options.toMs;
  return report;
}

function nameOf(groupBy: UsageGroupBy, summary: UsageSummaryRow): string {
  if (groupBy !== "key") return summary.group ?? "";
  if (summary.group === null) return noKeyGroupName;
  return summary.keyName ?? summary.group;
}
