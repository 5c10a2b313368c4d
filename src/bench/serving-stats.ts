import { summarizeDistribution, type DistributionSummary } from "./distribution-summary.js";
import type { RequestMeasurement } from "./request-measurement.js";

/** Service-level objectives a request must meet to count towards goodput. */
export interface ServingSlo {
  /** The most TTFT allowed, ms. */
  ttftMs: number;
  /** The most TPOT allowed, ms (a request with one output token has no TPOT and meets it). */
  tpotMs: number;
}

/** The figures of one concurrency level against one endpoint. Rates are per second of `durationMs`. */
export interface LevelSummary {
  /** Requests in flight at once. */
  concurrency: number;
  /** Requests sent. */
  requests: number;
  /** Requests that completed. */
  completed: number;
  /** Requests that failed. */
  errors: number;
  /** Failed requests by error code. */
  errorCodes: Record<string, number>;
  /** Wall time of the level: from the first request sent to the last one done (compare mode: the endpoint's own rounds, summed), ms. */
  durationMs: number;
  /** Completed requests per second. */
  requestsPerSecond: number;
  /** Output tokens (completed requests) per second. */
  outputTokensPerSecond: number;
  /** Prompt and output tokens (completed requests) per second. */
  totalTokensPerSecond: number;
  /** Completed requests that met both SLOs, per second. */
  goodputRequestsPerSecond: number;
  /** The share of sent requests that completed within both SLOs, 0 to 1. */
  sloAttainment: number;
  /** Prompt tokens of completed requests, summed (from usage; 0 when unreported). */
  promptTokens: number;
  /** Output tokens of completed requests, summed. */
  outputTokens: number;
  /** Mean prompt tokens per completed request, or `null` when none reported usage. */
  meanPromptTokens: number | null;
  /** Mean output tokens per completed request, or `null`. */
  meanOutputTokens: number | null;
  /** Time to first token of completed requests, ms. */
  ttftMs: DistributionSummary;
  /** Time per output token after the first, ms. */
  tpotMs: DistributionSummary;
  /** Inter-token latency (every gap between chunks of every completed request), ms. */
  itlMs: DistributionSummary;
  /** End-to-end latency of completed requests, ms. */
  e2eLatencyMs: DistributionSummary;
}

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
