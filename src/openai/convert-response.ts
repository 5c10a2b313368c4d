import type { FinishReason, Usage } from "../spec/index.js";
import type { WireFinishReason, WireUsage } from "./wire.js";

/** Sums the usage of the `n` choices of one request: the prompt is counted once, completions add up. */
export function sumUsage(usages: readonly Usage[]): Usage {
  const first = usages[0];
  return {
    promptTokens: first?.promptTokens ?? 0,
    completionTokens: usages.reduce((total, usage) => total + usage.completionTokens, 0),
    cachedPromptTokens: first?.cachedPromptTokens,
  };
}

/** The OpenAI `usage` object. */
export function toWireUsage(usage: Usage): WireUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

/** The OpenAI `finish_reason`. An aborted generation has no client left to read it; it maps to `stop`. */
export function toWireFinishReason(reason: FinishReason): WireFinishReason {
  switch (reason) {
    case "stop":
    case "abort":
      return "stop";
    case "length":
      return "length";
    default:
      return reason satisfies never;
  }
}
