import { Command, Option } from "commander";
import type { WireUsageRow } from "../../wire/admin.js";
import { formatUsd } from "../../metering/budget-guard.js";
import { addAdminTargetOptions, openAdminBackend, type AdminTargetFlags } from "../admin-backend.js";
import { formatCsv, formatTable } from "../format-table.js";

interface UsageFlags extends AdminTargetFlags {
  by: "key" | "model" | "day";
  since?: string;
  until?: string;
  json?: boolean;
  csv?: boolean;
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
  "completion_tokens",
  "reasoning_tokens",
  "total_tokens",
  "cost_micro_usd",
  "cost_usd",
  "cloud_model",
  "cloud_cost_micro_usd",
  "cloud_cost_usd",
  // Last: columns added later go at the end, so that readers by position keep working.
  "estimated_requests",
] as const satisfies ReadonlyArray<keyof WireUsageRow>;

/**
 * `moestro usage`: the usage ledger's totals per key, model or day, with cost and the cloud-list-price equivalent.
 * `--json` prints a JSON array of rows (`name`, `requests`, `aborted_requests`, `interrupted_requests`, `estimated_requests`, token counts,
 * `cost_micro_usd`, `cloud_cost_micro_usd`, ...); `--csv` the same rows as CSV.
 */
export function createUsageCommand(): Command {
  return addAdminTargetOptions(
    new Command("usage")
      .description("Show usage from the ledger: requests, tokens, cost, and the same tokens at the cloud list price.")
      .addOption(new Option("--by <group>", "group rows by key, model or day").choices(["key", "model", "day"]).default("key"))
      .option("--since <when>", "start: a date (2026-01-31), a date-time, epoch ms, or a duration before now (7d)")
      .option("--until <when>", "end (exclusive), in the same forms")
      .addOption(new Option("--json", "print a JSON array of rows").conflicts("csv"))
      .option("--csv", "print CSV"),
  ).action(async (flags: UsageFlags) => {
    const backend = await openAdminBackend(flags, process.env);
    try {
      const report = await backend.usage({ groupBy: flags.by, from: flags.since, to: flags.until });
      if (flags.json) {
        process.stdout.write(JSON.stringify(report.data) + "\n");
      } else if (flags.csv) {
        process.stdout.write(
          formatCsv(
            csvColumns,
            report.data.map((row) => csvColumns.map((column) => row[column] ?? 0)),
          ),
        );
      } else if (report.data.length === 0) {
        process.stdout.write("No usage recorded in this range.\n");
      } else {
        const cells = (row: WireUsageRow): string[] => [
          row.name,
          String(row.requests),
          String(row.prompt_tokens),
          String(row.completion_tokens),
          String(row.reasoning_tokens),
          String(row.cached_prompt_tokens),
          formatUsd(row.cost_micro_usd),
          formatUsd(row.cloud_cost_micro_usd),
          row.cloud_model ?? "-",
        ];
        const header = [
          flags.by.toUpperCase(),
          "REQUESTS",
          "PROMPT",
          "COMPLETION",
          "REASONING",
          "CACHED",
          "COST",
          "CLOUD COST",
          "CLOUD MODEL",
        ];
        process.stdout.write(formatTable(header, [...report.data.map(cells), cells(report.total)]));
        process.stdout.write("Cloud cost: the same tokens at the list price of the nearest cloud model (list prices, verify).\n");
      }
    } finally {
      await backend.dispose();
    }
  });
}
