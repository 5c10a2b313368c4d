/**
 * The stored serving benchmark report: what `moestro bench --json` prints and `--out FILE.json` holds (docs/bench.md).
 * camelCase, as the file has always been. One definition: the bench writes the inferred types
 * (`src/bench/serving-bench.ts`), the server reads stored files with these schemas (`src/api/stored-results.ts`) and
 * the console's `GET /v1/moestro/results` answer reuses {@link distributionSummarySchema} (`console.ts`).
 */
import { z } from "zod";

/**
 * A summary of a set of measurements, all in the unit of the measurements (the field that holds the summary names it:
 * `ttftMs`). Percentiles come from an HDR histogram at 3 significant digits (within 0.1% of the exact value); `mean`,
 * `min` and `max` are exact. With no measurement every figure is `null`.
 */
export const distributionSummarySchema = z.object({
  /** How many measurements. */
  count: z.number(),
  /** The arithmetic mean. */
  mean: z.number().nullable(),
  /** The smallest measurement. */
  min: z.number().nullable(),
  /** The median. */
  p50: z.number().nullable(),
  /** The 90th percentile. */
  p90: z.number().nullable(),
  /** The 99th percentile. */
  p99: z.number().nullable(),
  /** The largest measurement. */
  max: z.number().nullable(),
});
/** A summary of a set of measurements; see {@link distributionSummarySchema}. */
export type DistributionSummary = z.infer<typeof distributionSummarySchema>;

/** Which OpenAI endpoint a benchmark calls: `chat` (`/v1/chat/completions`) or `completions` (`/v1/completions`). */
export const benchEndpointSchema = z.enum(["chat", "completions"]);

/** A measured request as reported. Times are ms; `null` where a figure does not apply. */
export const benchRequestRecordSchema = z.object({
  /** The request's position in its level (0-based). */
  index: z.number(),
  /** Whether the request completed. */
  ok: z.boolean(),
  /** The error's code when it failed (the server's, or `connection_error`, `timeout`, `incomplete_stream`). */
  errorCode: z.string().optional(),
  /** The error's message when it failed. */
  errorMessage: z.string().optional(),
  /** When it was sent, ms after the bench started (monotonic clock). */
  startedAtMs: z.number(),
  /** Time to first token: from sending to the first non-empty text or reasoning delta. */
  ttftMs: z.number().nullable(),
  /** End-to-end latency: from sending to the end of the stream (also for a failed request: to the failure). */
  e2eLatencyMs: z.number(),
  /**
   * Time per output token after the first: `(e2eLatencyMs - ttftMs) / (outputTokens - 1)` (vLLM's definition); `null`
   * with fewer than 2 output tokens.
   */
  tpotMs: z.number().nullable(),
  /** `usage.prompt_tokens`, or `null` when the server did not report usage. */
  promptTokens: z.number().nullable(),
  /** `usage.completion_tokens`, else the number of text chunks (see `outputTokensSource`). */
  outputTokens: z.number().nullable(),
  /** `usage.completion_tokens_details.reasoning_tokens`, or `null`. */
  reasoningTokens: z.number().nullable(),
  /** `usage.prompt_tokens_details.cached_tokens`, or `null`. */
  cachedPromptTokens: z.number().nullable(),
  /**
   * Where `outputTokens` comes from.
   * - `usage`: the server's `usage` chunk (asked with `stream_options.include_usage`).
   * - `chunks`: the server sent no usage; the count of text chunks stands in (a chunk may hold several tokens).
   */
  outputTokensSource: z.enum(["usage", "chunks"]),
  /** Chunks that carried text or reasoning. */
  chunks: z.number(),
  /** `finish_reason`, when the request finished. */
  finishReason: z.string().nullable(),
});
/** A measured request as reported: its inter-token latencies are summarised in the level's `itlMs`, not listed. */
export type BenchRequestRecord = z.infer<typeof benchRequestRecordSchema>;

/** Service-level objectives a request must meet to count towards goodput. */
export const servingSloSchema = z.object({
  /** The most TTFT allowed, ms. */
  ttftMs: z.number(),
  /** The most TPOT allowed, ms (a request with one output token has no TPOT and meets it). */
  tpotMs: z.number(),
});
/** Service-level objectives of goodput; see {@link servingSloSchema}. */
export type ServingSlo = z.infer<typeof servingSloSchema>;

/** The figures of one concurrency level against one endpoint. Rates are per second of `durationMs`. */
export const levelSummarySchema = z.object({
  /** Requests in flight at once. */
  concurrency: z.number(),
  /** Requests sent. */
  requests: z.number(),
  /** Requests that completed. */
  completed: z.number(),
  /** Requests that failed. */
  errors: z.number(),
  /** Failed requests by error code. */
  errorCodes: z.record(z.number()),
  /** Wall time of the level: from the first request sent to the last one done (compare mode: the endpoint's own rounds, summed), ms. */
  durationMs: z.number(),
  /** Completed requests per second. */
  requestsPerSecond: z.number(),
  /** Output tokens (completed requests) per second. */
  outputTokensPerSecond: z.number(),
  /** Prompt and output tokens (completed requests) per second. */
  totalTokensPerSecond: z.number(),
  /** Completed requests that met both SLOs, per second. */
  goodputRequestsPerSecond: z.number(),
  /** The share of sent requests that completed within both SLOs, 0 to 1. */
  sloAttainment: z.number(),
  /** Prompt tokens of completed requests, summed (from usage; 0 when unreported). */
  promptTokens: z.number(),
  /** Output tokens of completed requests, summed. */
  outputTokens: z.number(),
  /** Mean prompt tokens per completed request, or `null` when none reported usage. */
  meanPromptTokens: z.number().nullable(),
  /** Mean output tokens per completed request, or `null`. */
  meanOutputTokens: z.number().nullable(),
  /** Time to first token of completed requests, ms. */
  ttftMs: distributionSummarySchema,
  /** Time per output token after the first, ms. */
  tpotMs: distributionSummarySchema,
  /** Inter-token latency (every gap between chunks of every completed request), ms. */
  itlMs: distributionSummarySchema,
  /** End-to-end latency of completed requests, ms. */
  e2eLatencyMs: distributionSummarySchema,
});
/** The figures of one concurrency level; see {@link levelSummarySchema}. */
export type LevelSummary = z.infer<typeof levelSummarySchema>;

/** One concurrency level against one target: its summary and each request. */
export const benchLevelResultSchema = levelSummarySchema.extend({
  /** The level's requests, in the order sent. */
  perRequest: z.array(benchRequestRecordSchema),
});
/** One concurrency level against one target; see {@link benchLevelResultSchema}. */
export type BenchLevelResult = z.infer<typeof benchLevelResultSchema>;

const ratio = z.number().nullable();

/** Ratios of the second target's figures over the first's at one concurrency level; `null` where a figure is missing or 0. */
export const benchLevelComparisonSchema = z.object({
  /** The concurrency level. */
  concurrency: z.number(),
  /** Request throughput, B / A (above 1: B serves more). */
  requestsPerSecond: ratio,
  /** Output tokens per second, B / A. */
  outputTokensPerSecond: ratio,
  /** Goodput, B / A. */
  goodputRequestsPerSecond: ratio,
  /** Median TTFT, B / A (below 1: B answers sooner). */
  ttftP50: ratio,
  /** 99th percentile TTFT, B / A. */
  ttftP99: ratio,
  /** Median TPOT, B / A. */
  tpotP50: ratio,
  /** 99th percentile TPOT, B / A. */
  tpotP99: ratio,
  /** Median end-to-end latency, B / A. */
  e2eLatencyP50: ratio,
  /** 99th percentile end-to-end latency, B / A. */
  e2eLatencyP99: ratio,
});
/** Ratios of two targets at one level; see {@link benchLevelComparisonSchema}. */
export type BenchLevelComparison = z.infer<typeof benchLevelComparisonSchema>;

/** What a serving benchmark ran. */
export const servingBenchSettingsSchema = z.object({
  /** The endpoint called. */
  endpoint: benchEndpointSchema,
  /** The levels, in the order run. */
  concurrencyLevels: z.array(z.number()),
  /** Measured requests per level and target. */
  requestsPerLevel: z.number(),
  /** `dataset` when prompts came from a dataset, else `synthetic`. */
  prompts: z.enum(["synthetic", "dataset"]),
  /** The asked prompt size of synthetic prompts, tokens (`null` with a dataset); measured sizes are in each level. */
  promptTokens: z.number().nullable(),
  /** Words per synthetic prompt after calibration (`null` with a dataset). */
  promptWords: z.number().nullable(),
  /** `max_tokens` of each request (a dataset prompt's own wins). */
  maxTokens: z.number(),
  /** `temperature` of each request. */
  temperature: z.number(),
  /** Whether `ignore_eos: true` was sent. */
  ignoreEos: z.boolean(),
  /** Unmeasured requests per target before the first level. */
  warmupRequests: z.number(),
  /** The SLOs of goodput. */
  slo: servingSloSchema,
  /**
   * How requests were scheduled.
   * - `pool`: one target; `concurrency` requests always in flight until the level's requests are done.
   * - `interleaved-rounds`: two targets; rounds of `concurrency` requests go to each target in turn (ABBA order), never
   *   both at once, with the same prompts, so both may share hardware and drift hits both alike.
   */
  schedule: z.enum(["pool", "interleaved-rounds"]),
});

/** The result of a serving benchmark: what `--json` prints and `--out` holds. */
export const servingBenchReportSchema = z.object({
  /** What was run. */
  settings: servingBenchSettingsSchema,
  /** Each target (its label, base URL and model; never its API key) with its levels, in the order of `concurrencyLevels`. */
  targets: z.array(z.object({ label: z.string(), baseUrl: z.string(), model: z.string(), levels: z.array(benchLevelResultSchema) })),
  /** Compare mode: the second target over the first, per level. */
  comparison: z.array(benchLevelComparisonSchema).optional(),
  /** When the benchmark started, ISO 8601. */
  startedAt: z.string(),
  /** When it ended, ISO 8601. */
  finishedAt: z.string(),
});
/** A serving benchmark's report; see {@link servingBenchReportSchema}. */
export type ServingBenchReport = z.infer<typeof servingBenchReportSchema>;
