import type { EvalThinkingMode } from "../wire/eval-report.js";

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

/** The version of the eval prompts' wording; changing the wording changes it, so stored answers are not mixed. */
export const evalPromptVersion = 1;
