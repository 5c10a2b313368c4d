import type { LevelSummary, ServingSlo } from "../wire/bench-report.js";
import { summarizeDistribution } from "./distribution-summary.js";
import type { RequestMeasurement } from "./request-measurement.js";

/**
 * Summarises the requests of one concurrency level that ran for `durationMs`: throughput, goodput against `slo`,
 * errors, and the distributions of TTFT, TPOT, ITL and end-to-end latency (completed requests only).
 */
export function summarizeLevel(
  measurements: readonly RequestMeasurement[],
  options: { concurrency: number; durationMs: number; slo: ServingSlo },
): LevelSummary {
  const completed = measurements.filter((measurement) => measurement.ok);
  const failed = measurements.filter((measurement) => !measurement.ok);
  const errorCodes: Record<string, number> = {};
  for (const measurement of failed)
    errorCodes[measurement.errorCode ?? "unknown"] = (errorCodes[measurement.errorCode ?? "unknown"] ?? 0) + 1;
  const sum = (values: Array<number | null>): number => values.reduce<number>((total, value) => total + (value ?? 0), 0);
  const meanOf = (values: Array<number | null>): number | null => {
    const known = values.filter((value): value is number => value !== null);
    return known.length === 0 ? null : sum(known) / known.length;
  };
  const promptTokens = sum(completed.map((measurement) => measurement.promptTokens));
  const outputTokens = sum(completed.map((measurement) => measurement.outputTokens));
  const good = completed.filter(
    (measurement) =>
      measurement.ttftMs !== null &&
      measurement.ttftMs <= options.slo.ttftMs &&
      (measurement.tpotMs === null || measurement.tpotMs <= options.slo.tpotMs),
  ).length;
  const seconds = options.durationMs / 1000;
  const perSecond = (count: number): number => (seconds > 0 ? count / seconds : 0);
  return {
    concurrency: options.concurrency,
    requests: measurements.length,
    completed: completed.length,
    errors: failed.length,
    errorCodes,
    durationMs: options.durationMs,
    requestsPerSecond: perSecond(completed.length),
    outputTokensPerSecond: perSecond(outputTokens),
    totalTokensPerSecond: perSecond(promptTokens + outputTokens),
    goodputRequestsPerSecond: perSecond(good),
    sloAttainment: measurements.length === 0 ? 0 : good / measurements.length,
    promptTokens,
    outputTokens,
    meanPromptTokens: meanOf(completed.map((measurement) => measurement.promptTokens)),
    meanOutputTokens: meanOf(completed.map((measurement) => measurement.outputTokens)),
    ttftMs: summarizeDistribution(completed.flatMap((measurement) => (measurement.ttftMs === null ? [] : [measurement.ttftMs]))),
    tpotMs: summarizeDistribution(completed.flatMap((measurement) => (measurement.tpotMs === null ? [] : [measurement.tpotMs]))),
    itlMs: summarizeDistribution(completed.flatMap((measurement) => measurement.itlMs)),
    e2eLatencyMs: summarizeDistribution(completed.map((measurement) => measurement.e2eLatencyMs)),
  };
}
