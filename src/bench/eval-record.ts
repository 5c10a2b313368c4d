/**
 * How an eval request switches thinking.
 * - `on`: `enable_thinking: true` (moestro, DashScope) and `chat_template_kwargs.enable_thinking: true` (vLLM,
 *   llama-server), plus `thinking_budget` when a budget is given.
 * - `off`: the same switches set to false.
 * - `default`: no thinking field at all (the model's default; the only safe choice for APIs that reject unknown fields).
 */
export type EvalThinkingMode = "on" | "off" | "default";

/**
 * The outcome of one question.
 * - `correct` / `wrong`: an answer was found and compared.
 * - `unparsable`: the response holds no answer in a form the extractor reads (counted as wrong).
 * - `error`: the request failed (counted as wrong, and retried when the eval is resumed).
 */
export type EvalAnswerStatus = "correct" | "wrong" | "unparsable" | "error";

/** One question asked of one model in one thinking mode: one line of a stored eval. */
export interface EvalAnswerRecord {
  /** The model id sent. */
  model: string;
  /** The thinking mode. */
  thinking: EvalThinkingMode;
  /** The question's id in the dataset. */
  questionId: string;
  /** The outcome. */
  status: EvalAnswerStatus;
  /** The expected answer (a letter for multiple choice). */
  expected: string;
  /** The answer found in the response; absent when unparsable or failed. */
  extracted?: string;
  /** The error's code (the server's, or the client's such as `connection_error`) when `status` is `error`. */
  errorCode?: string;
  /** The error's message when `status` is `error`. */
  errorMessage?: string;
  /** The answer text (thought removed), shortened to its first 1,000 and last 2,000 characters when longer. */
  response?: string;
  /** `finish_reason` (`stop`, `length`), when the request finished. */
  finishReason?: string;
  /** Token counts from the server's `usage`; absent when the server did not report them. */
  promptTokens?: number;
  /** Generated tokens, reasoning included. */
  completionTokens?: number;
  /** Generated tokens that were reasoning. */
  reasoningTokens?: number;
  /** Prompt tokens served from the server's cache. */
  cachedPromptTokens?: number;
  /** The request's cost at the model's own price, integer micro-USD (unknown token counts price as 0). */
  costMicroUsd: number;
  /** The cloud model of the comparison price, when the price book knows one. */
  cloudModel?: string;
  /** The same tokens at the cloud model's list price, integer micro-USD. */
  cloudCostMicroUsd: number;
  /** From sending the request to its last byte, ms. */
  latencyMs: number;
  /** When the request was sent, epoch ms. */
  startedAtMs: number;
}

/**
 * What makes stored answers comparable: a stored eval is resumed only when these are equal (models and thinking modes
 * may be added, and `--limit` changed, without starting over).
 */
export interface EvalRunIdentity {
  /** SHA-256 of the dataset file (and of GPQA's shuffle seed). */
  datasetSha256: string;
  /** `max_tokens` of every request. */
  maxTokens: number;
  /** `temperature` of every request. */
  temperature: number;
  /** `seed` of every request, or `null` when none is sent. */
  seed: number | null;
  /** `thinking_budget` of requests with thinking on, tokens, or `null` when none is sent. */
  thinkingBudgetTokens: number | null;
  /** The version of the prompt wording ({@link evalPromptVersion}). */
  promptVersion: number;
}

/** The version of the eval prompts' wording; changing the wording changes it, so stored answers are not mixed. */
export const evalPromptVersion = 1;

/** The results of one model in one thinking mode. Money in USD is derived from integer micro-USD sums. */
export interface EvalModeResult {
  /** The model id. */
  model: string;
  /** The thinking mode. */
  thinking: EvalThinkingMode;
  /** Questions in the eval. */
  questions: number;
  /** Questions with a stored outcome (`questions - pending`). */
  done: number;
  /** Questions not yet asked (an interrupted eval). */
  pending: number;
  /** Correct answers. */
  correct: number;
  /** Answers found and wrong. */
  wrong: number;
  /** Responses with no readable answer (also counted as wrong in `accuracy`). */
  unparsable: number;
  /** Failed requests (also counted as wrong in `accuracy`). */
  errors: number;
  /** `correct / done` (0 when nothing is done): unparsable answers and errors count as wrong. */
  accuracy: number;
  /** Lower bound of the 95% Wilson interval of `accuracy`. */
  wilsonLower: number;
  /** Upper bound of the 95% Wilson interval of `accuracy`. */
  wilsonUpper: number;
  /** Mean prompt tokens per answered question, or `null` when none reported usage. */
  meanPromptTokens: number | null;
  /** Mean generated tokens (reasoning included) per answered question, or `null`. */
  meanCompletionTokens: number | null;
  /** Mean reasoning tokens per answered question, or `null`. */
  meanReasoningTokens: number | null;
  /** The summed cost at the model's own price, integer micro-USD. */
  costMicroUsd: number;
  /** `costMicroUsd` in USD. */
  costUsd: number;
  /** Cost per 1,000 questions at the model's own price, USD (`costUsd / done × 1000`; 0 when nothing is done). */
  costPer1000QuestionsUsd: number;
  /** The cloud model of the comparison price, when the price book knows one. */
  cloudModel: string | null;
  /** The summed cost at the cloud model's list price, USD. */
  cloudCostUsd: number;
  /** Cost per 1,000 questions at the cloud model's list price, USD. */
  cloudCostPer1000QuestionsUsd: number;
  /** Mean latency of answered questions, ms, or `null`. */
  meanLatencyMs: number | null;
  /** Median latency of answered questions, ms, or `null`. */
  p50LatencyMs: number | null;
  /** 90th percentile latency of answered questions, ms, or `null`. */
  p90LatencyMs: number | null;
  /** Whether no other result of the report is at least as accurate for at most the cost (one of them strictly). */
  isParetoOptimal: boolean;
}

/** A stored eval's report: what `--json` prints and `results.json` holds. */
export interface EvalReport {
  /** The dataset. */
  dataset: { path: string; sha256: string; questions: number };
  /** The settings every request used. */
  settings: EvalRunIdentity;
  /**
   * Which cost the Pareto flags and chart use.
   * - `own`: the model's own price (`costPer1000QuestionsUsd`).
   * - `cloud`: the cloud-equivalent list price (`cloudCostPer1000QuestionsUsd`).
   */
  costBasis: EvalCostBasis;
  /** One result per model and thinking mode, in the order they ran. */
  results: EvalModeResult[];
  /** When the report was made, ISO 8601. */
  createdAt: string;
}

/** Which cost the Pareto comparison uses; see {@link EvalReport.costBasis}. */
export type EvalCostBasis = "own" | "cloud";
