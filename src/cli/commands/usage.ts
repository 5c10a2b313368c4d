import { Command, Option } from "commander";
import { MoestroError } from "../../errors/index.js";
import { parseInstantMs } from "../../util/duration.js";
import type { WireUsageReport, WireUsageRow } from "../../wire/admin.js";
import { addAdminTargetOptions, openAdminBackend, type AdminTargetFlags } from "../admin-backend.js";
import { formatUsd } from "../../util/format-usd.js";
import { formatCsv, formatTable } from "../format-table.js";

interface UsageFlags extends AdminTargetFlags {
  by: "key" | "model" | "day";
  since?: string;
  until?: string;
  json?: boolean;
  csv?: boolean;
  details?: boolean;
}

const csvColumns = [
  "name",
  "group",
  "requests",
  "error_requests",
  "aborted_requests",
  "interrupted_requests",
  "prompt_tokens",
  "cached_prompt_tokens",
  "cache_creation_input_tokens",
  "cache_read_input_tokens",
  "completion_tokens",
  "reasoning_tokens",
  "total_tokens",
  "cost_micro_usd",
  "cost_usd",
  "cloud_model",
  "cloud_cost_micro_usd",
  "cloud_cost_usd",
  "engine_time_ms",
  "cost_nano_usd",
  "cloud_cost_nano_usd",
  "difference_nano_usd",
  "cost_estimated",
  "measured_micro_usd_per_million_output_tokens",
  // Last: columns added later go at the end, so that readers by position keep working.
  "usage_estimated_requests",
  "draft_tokens",
  "accepted_draft_tokens",
  "estimated_requests",
] as const satisfies ReadonlyArray<keyof WireUsageRow>;

/**
 * `moestro usage`: the usage ledger's totals per key, model or day, with cost here, the cloud-list-price equivalent and
 * the difference, and the pricing assumptions (the hourly cost of engine time, its power and electricity price, and
 * whether they are estimates). `--json` prints a JSON array of rows (`name`, `requests`, token counts,
 * `usage_estimated_requests`, `engine_time_ms`, `cost_nano_usd`, `cloud_cost_nano_usd`, `difference_nano_usd`, `cost_estimated`, `pricing` on model
 * rows, ...); `--json --details` the whole report with its `time_rate`; `--csv` the rows as CSV (the JSON rows' fields
 * but `pricing`). `--details` without `--json`, and a `--since` that is not before `--until`, are `invalid_request`
 * errors naming the flags.
 * Cached prompt tokens are shown apart: CACHED (the implicit cache: a prefix the engine reused by itself), CACHE WRITE
 * and CACHE READ (the explicit cache: prefixes pinned with `cache_control`, and hits on them).
 */
export function createUsageCommand(): Command {
  return addAdminTargetOptions(
    new Command("usage")
      .description("Show usage from the ledger: requests, tokens, cost, and the same tokens at the cloud list price.")
      .addOption(new Option("--by <group>", "group rows by key, model or day").choices(["key", "model", "day"]).default("key"))
      .option("--since <when>", "start: a date (2026-01-31), a date-time, epoch ms, or a duration before now (7d)")
      .option("--until <when>", "end (exclusive), in the same forms")
      .addOption(new Option("--json", "print a JSON array of rows").conflicts("csv"))
      .option(
        "--details",
        "with --json: print the whole report (rows, total, and the pricing assumptions: time_rate); the table shows them already",
      )
      .option("--csv", "print CSV"),
  ).action(async (flags: UsageFlags) => {
    checkUsageFlags(flags, Date.now());
    const backend = await openAdminBackend(flags, process.env);
    try {
      const report = await backend.usage({ groupBy: flags.by, from: flags.since, to: flags.until });
      // On stderr, so that --json and --csv stay machine-readable and the warning is seen whichever is printed.
      const unpricedWarning = describeUnpriced(report);
      if (unpricedWarning !== undefined) process.stderr.write(unpricedWarning + "\n");
      if (flags.json) {
        process.stdout.write(JSON.stringify(flags.details ? report : report.data) + "\n");
      } else if (flags.csv) {
        process.stdout.write(
          formatCsv(
            csvColumns,
            report.data.map((row) => csvColumns.map((column) => row[column] ?? (column.startsWith("cache_") ? 0 : ""))),
          ),
        );
      } else if (report.data.length === 0) {
        process.stdout.write("No usage recorded in this range.\n");
      } else {
        const byModel = flags.by === "model";
        const cells = (row: WireUsageRow): string[] => [
          row.name,
          String(row.requests),
          String(row.prompt_tokens),
          String(row.completion_tokens),
          String(row.cached_prompt_tokens),
          String(row.cache_creation_input_tokens ?? 0),
          String(row.cache_read_input_tokens ?? 0),
          formatMs(row.engine_time_ms ?? 0),
          formatNanoUsd(row.cost_nano_usd ?? row.cost_micro_usd * 1000) + (row.cost_estimated === true ? "*" : ""),
          formatNanoUsd(row.cloud_cost_nano_usd ?? row.cloud_cost_micro_usd * 1000),
          formatNanoUsd(row.difference_nano_usd ?? (row.cloud_cost_micro_usd - row.cost_micro_usd) * 1000),
          row.cloud_model ?? "-",
          ...(byModel ? [perMillion(row.measured_micro_usd_per_million_output_tokens), plannedCell(row)] : []),
        ];
        const header = [
          flags.by.toUpperCase(),
          "REQUESTS",
          "PROMPT",
          "COMPLETION",
          "CACHED",
          "CACHE WRITE",
          "CACHE READ",
          "ENGINE TIME",
          "COST HERE",
          "CLOUD COST",
          "SAVED",
          "CLOUD MODEL",
          ...(byModel ? ["MEASURED /1M OUT", "PLANNED /1M OUT"] : []),
        ];
        process.stdout.write(formatTable(header, [...report.data.map(cells), cells(report.total)]));
        process.stdout.write(
          "Cloud cost: the same tokens at the list price of the nearest cloud model (list prices, verify). Saved: cloud cost − cost here.\n",
        );
        for (const line of describePricing(report)) process.stdout.write(line + "\n");
      }
    } finally {
      await backend.dispose();
    }
  });
}

/**
 * Refuses flags that would be ignored or could only print an empty report: `--details` without `--json` (the table and
 * the CSV have no place for the whole report; the table already prints the pricing assumptions under it), and a range
 * whose `--since` is not before its `--until` (`[since, until)` holds nothing). A bound that cannot be read is left to
 * the backend, whose error names it.
 *
 * @throws {MoestroError} `invalid_request` with `param` the flag at fault.
 */
export function checkUsageFlags(flags: Pick<UsageFlags, "details" | "json" | "since" | "until">, nowMs: number): void {
  if (flags.details === true && flags.json !== true) {
    throw new MoestroError(
      "invalid_request",
      "--details applies to --json only (the whole report as JSON); the table already shows the pricing assumptions under it.",
      { param: "--details" },
    );
  }
  const sinceMs = flags.since === undefined ? undefined : parseInstantMs(flags.since, nowMs);
  const untilMs = flags.until === undefined ? undefined : parseInstantMs(flags.until, nowMs);
  if (sinceMs !== undefined && untilMs !== undefined && sinceMs >= untilMs) {
    throw new MoestroError(
      "invalid_request",
      `--since (${flags.since}: ${new Date(sinceMs).toISOString()}) must be before --until (${flags.until}: ${new Date(untilMs).toISOString()}); the range [since, until) holds nothing.`,
      { param: "--since" },
    );
  }
}

/**
 * Nano-USD as dollars, as {@link formatUsd} writes them (`$12.30`, `$0.417`, `$0.0000123`); a
 * negative amount keeps its sign.
 */
export function formatNanoUsd(nano: number): string {
  return formatUsd(nano / 1e9);
}

function formatMs(ms: number): string {
  if (ms === 0) return "-";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toPrecision(3)} ms`;
}

function perMillion(microUsd: number | null | undefined): string {
  return microUsd === null || microUsd === undefined ? "-" : formatNanoUsd(microUsd * 1000);
}

function plannedCell(row: WireUsageRow): string {
  const pricing = row.pricing;
  if (pricing === null || pricing === undefined) return "-";
  if (pricing.basis === "tokens") return "(token price)";
  const single = pricing.planned_single_micro_usd_per_million_output_tokens;
  const busy = pricing.planned_busy_micro_usd_per_million_output_tokens;
  return single === null || busy === null ? "-" : `${perMillion(single)} (1 seq) – ${perMillion(busy)} (busy)`;
}

/**
 * The warning about requests that cost $0 for want of a price (`report.unpriced`), or `undefined` when there are none:
 * their models, and that no budget counts them.
 */
export function describeUnpriced(report: WireUsageReport): string | undefined {
  const unpriced = report.unpriced;
  if (unpriced === null || unpriced === undefined || unpriced.requests === 0) return undefined;
  const models = unpriced.models.map((model) => `'${model}'`).join(", ");
  return `Warning: ${unpriced.requests} request${unpriced.requests === 1 ? "" : "s"} of ${models} cost $0: the price book gives no price to these upstream models, so no budget counts them. Give each a tiers or hourly entry (docs/studio.md, Unpriced models).`;
}

/** The lines that state the pricing assumptions under the table. */
export function describePricing(report: WireUsageReport): string[] {
  const rate = report.time_rate;
  if (rate === null || rate === undefined) return [];
  const lines = [
    `Cost here: engine time × ${formatNanoUsd(rate.micro_usd_per_hour * 1000)}/hour = hardware ${formatNanoUsd(rate.hardware_micro_usd_per_hour * 1000)}/hour + ${rate.watts} W × ${formatNanoUsd(rate.micro_usd_per_kwh * 1000)}/kWh (models with a tiers or hourly price in the price book: by tokens).`,
    `  power: ${rate.watts_source}; electricity: ${rate.electricity_source}.`,
  ];
  if (rate.estimated || report.data.some((row) => row.cost_estimated === true))
    lines.push("  * an estimate: set localTime.watts and localTime.microUsdPerKwh in the price book (docs/studio.md).");
  return lines;
}
