import type { FinishReason, TokenLogprob, ToolCall, Usage } from "../../spec/index.js";
import type { WireFinishReason, WireTokenLogprob, WireToolCall, WireUsage } from "./wire.js";

/**
 * The OpenAI `usage` object. Speculative decoding's counts go in OpenAI's `accepted_prediction_tokens` and
 * `rejected_prediction_tokens` (drafted tokens the model accepted, and the others), only when the request speculated.
 *
 * `prompt_tokens_details.cached_tokens` is the prefix the engine reused by itself (implicit cache); for a request with
 * `cache_control` markers it is the pinned prefix read instead, and `cache_creation_input_tokens`,
 * `cache_creation.ephemeral_5m_input_tokens` and `cache_type: "ephemeral"` say what was pinned anew, as Alibaba Cloud
 * Model Studio's chat completions report its explicit cache ("Context cache").
 */
export function toWireUsage(usage: Usage): WireUsage {
  const speculated =
    usage.draftTokens === undefined
      ? {}
      : {
          accepted_prediction_tokens: usage.acceptedDraftTokens ?? 0,
          rejected_prediction_tokens: usage.draftTokens - (usage.acceptedDraftTokens ?? 0),
        };
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: toWirePromptDetails(usage),
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0, ...speculated },
  };
}

function toWirePromptDetails(usage: Usage): WireUsage["prompt_tokens_details"] {
  if (usage.cacheCreationInputTokens === undefined && usage.cacheReadInputTokens === undefined)
    return { cached_tokens: usage.cachedPromptTokens ?? 0 };
  const created = usage.cacheCreationInputTokens ?? 0;
  return {
    cached_tokens: usage.cacheReadInputTokens ?? 0,
    cache_creation_input_tokens: created,
    cache_creation: { ephemeral_5m_input_tokens: created },
    cache_type: "ephemeral",
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
    case "tool_calls":
      return "tool_calls";
    default:
      return reason satisfies never;
  }
}

/** OpenAI's chat `logprobs.content` entries. */
export function toWireLogprobs(logprobs: readonly TokenLogprob[]): WireTokenLogprob[] {
  return logprobs.map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: entry.bytes,
    top_logprobs: entry.top.map((alternative) => ({ token: alternative.token, logprob: alternative.logprob, bytes: alternative.bytes })),
  }));
}

/** OpenAI's `tool_calls` entry of a message. */
export function toWireToolCall(toolCall: ToolCall): WireToolCall {
  return { id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: toolCall.arguments } };
}
