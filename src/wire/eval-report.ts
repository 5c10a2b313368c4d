/**
 * The stored eval report: what `moestro eval --json` prints and the eval folder's `results.json` holds
 * (docs/bench.md). camelCase, as the file has always been. One definition: the eval writes the inferred types
 * (`src/bench/eval-summary.ts`, `eval-store.ts`), and the server reads stored files with these schemas
 * (`src/api/stored-results.ts`) before answering `GET /v1/moestro/results` in the console's shape (`console.ts`).
 */
import { z } from "zod";

/**
 * How an eval request switches thinking.
 * - `on`: `enable_thinking: true` (moestro, DashScope) and `chat_template_kwargs.enable_thinking: true` (vLLM,
 *   llama-server), plus `thinking_budget` when a budget is given.
 * - `off`: the same switches set to false.
 * - `default`: no thinking field at all (the model's default; the only safe choice for APIs that reject unknown fields).
 */
export const evalThinkingModeSchema = z.enum(["on", "off", "default"]);
/** How an eval request switches thinking; see {@link evalThinkingModeSchema}. */
export type EvalThinkingMode = z.infer<typeof evalThinkingModeSchema>;

/**
 * Which cost the Pareto flags and chart use.
 * - `own`: the model's own price (`costPer1000QuestionsUsd`).
 * - `cloud`: the cloud-equivalent list price (`cloudCostPer1000QuestionsUsd`).
 */
export const evalCostBasisSchema = z.enum(["own", "cloud"]);
/** Which cost the Pareto comparison uses; see {@link evalCostBasisSchema}. */
export type EvalCostBasis = z.infer<typeof evalCostBasisSchema>;

/**
 * What makes stored answers comparable: a stored eval is resumed only when these are equal (models and thinking modes
 * may be added, and `--limit` changed, without starting over).
 */
export const evalRunIdentitySchema = z.object({
  /** SHA-256 of the dataset file (and of GPQA's shuffle seed). */
  datasetSha256: z.string(),
  /** `max_tokens` of every request. */
  maxTokens: z.number(),
  /** `temperature` of every request. */
  temperature: z.number(),
  /** `seed` of every request, or `null` when none is sent. */
  seed: z.number().nullable(),
  /** `thinking_budget` of requests with thinking on, tokens, or `null` when none is sent. */
  thinkingBudgetTokens: z.number().nullable(),
  /** The version of the prompt wording (`evalPromptVersion` in `src/bench/eval-record.ts`). */
  promptVersion: z.number(),
});
/** What makes stored answers comparable; see {@link evalRunIdentitySchema}. */
export type EvalRunIdentity = z.infer<typeof evalRunIdentitySchema>;

/** The results of one model in one thinking mode. Money in USD is derived from integer micro-USD sums. */
export const evalModeResultSchema = z.object({
  /** The model id. */
  model: z.string(),
  /** The thinking mode. */
  thinking: evalThinkingModeSchema,
  /** Questions in the eval. */
  questions: z.number(),
  /** Questions with a stored outcome (`questions - pending`). */
  done: z.number(),
  /** Questions not yet asked (an interrupted eval). */
  pending: z.number(),
  /** Correct answers. */
  correct: z.number(),
  /** Answers found and wrong. */
  wrong: z.number(),
  /** Responses with no readable answer (also counted as wrong in `accuracy`). */
  unparsable: z.number(),
  /** Failed requests (also counted as wrong in `accuracy`). */
  errors: z.number(),
  /** `correct / done` (0 when nothing is done): unparsable answers and errors count as wrong. */
  accuracy: z.number(),
  /** Lower bound of the 95% Wilson interval of `accuracy`. */
  wilsonLower: z.number(),
  /** Upper bound of the 95% Wilson interval of `accuracy`. */
  wilsonUpper: z.number(),
  /** Mean prompt tokens per answered question, or `null` when none reported usage. */
  meanPromptTokens: z.number().nullable(),
  /** Mean generated tokens (reasoning included) per answered question, or `null`. */
  meanCompletionTokens: z.number().nullable(),
  /** Mean reasoning tokens per answered question, or `null`. */
  meanReasoningTokens: z.number().nullable(),
  /** The summed cost at the model's own price, integer micro-USD. */
  costMicroUsd: z.number(),
  /** `costMicroUsd` in USD. */
  costUsd: z.number(),
  /** Cost per 1,000 questions at the model's own price, USD (`costUsd / done × 1000`; 0 when nothing is done). */
  costPer1000QuestionsUsd: z.number(),
  /** The cloud model of the comparison price, when the price book knows one. */
  cloudModel: z.string().nullable(),
  /** The summed cost at the cloud model's list price, USD. */
  cloudCostUsd: z.number(),
  /** Cost per 1,000 questions at the cloud model's list price, USD. */
  cloudCostPer1000QuestionsUsd: z.number(),
  /** Mean latency of answered questions, ms, or `null`. */
  meanLatencyMs: z.number().nullable(),
  /** Median latency of answered questions, ms, or `null`. */
  p50LatencyMs: z.number().nullable(),
  /** 90th percentile latency of answered questions, ms, or `null`. */
  p90LatencyMs: z.number().nullable(),
  /** Whether no other result of the report is at least as accurate for at most the cost (one of them strictly). */
  isParetoOptimal: z.boolean(),
});
/** The results of one model in one thinking mode; see {@link evalModeResultSchema}. */
export type EvalModeResult = z.infer<typeof evalModeResultSchema>;

/** A stored eval's report: what `--json` prints and `results.json` holds. */
export const evalReportSchema = z.object({
  /** The dataset. */
  dataset: z.object({ path: z.string(), sha256: z.string(), questions: z.number() }),
  /** The settings every request used. */
  settings: evalRunIdentitySchema,
  /** Which cost the Pareto flags and chart use. */
  costBasis: evalCostBasisSchema,
  /** One result per model and thinking mode, in the order they ran. */
  results: z.array(evalModeResultSchema),
  /** When the report was made, ISO 8601. */
  createdAt: z.string(),
});
/** A stored eval's report; see {@link evalReportSchema}. */
export type EvalReport = z.infer<typeof evalReportSchema>;
