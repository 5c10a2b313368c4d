import type { FinishReason, ToolCall, Usage } from "../../spec/index.js";
import type { WireContentBlock, WireStopReason, WireUsage } from "./wire.js";

/**
 * Anthropic's `usage` from moestro's (Messages reference: total input is the sum of `input_tokens`,
 * `cache_creation_input_tokens` and `cache_read_input_tokens`):
 * - a request with `cache_control` markers: `cache_read_input_tokens` is the pinned prefix it read, and
 *   `cache_creation_input_tokens` (also in `cache_creation.ephemeral_5m_input_tokens`) what it pinned anew;
 * - otherwise `cache_read_input_tokens` is the prefix the engine reused by itself (implicit cache), and nothing is
 *   created.
 *
 * `input_tokens` is the rest of the prompt.
 */
export function toWireUsage(usage: Usage): WireUsage {
  const isExplicit = usage.cacheCreationInputTokens !== undefined || usage.cacheReadInputTokens !== undefined;
  const read = isExplicit ? (usage.cacheReadInputTokens ?? 0) : (usage.cachedPromptTokens ?? 0);
  const created = isExplicit ? (usage.cacheCreationInputTokens ?? 0) : 0;
  const wire: WireUsage = {
    input_tokens: Math.max(0, usage.promptTokens - read - created),
    output_tokens: usage.completionTokens,
    cache_read_input_tokens: read,
    cache_creation_input_tokens: created,
  };
  if (isExplicit) wire.cache_creation = { ephemeral_5m_input_tokens: created, ephemeral_1h_input_tokens: 0 };
  return wire;
}

/**
 * `stop_reason` and `stop_sequence` of a finished answer: `stop_sequence` when the stop text that ended it is one of the
 * request's `stop_sequences` (a stop text of the chat template is a natural end, `end_turn`); `max_tokens` at the limit,
 * or `model_context_window_exceeded` when the limit was the context window's (`lengthIsContextWindow`: the request's
 * `max_tokens` did not fit and was lowered); `tool_use` after tool calls. An aborted answer (no client left to read it)
 * says `end_turn`.
 */
export function toWireStop(
  finishReason: FinishReason,
  stopSequence: string | undefined,
  requested: readonly string[],
  lengthIsContextWindow = false,
): { stop_reason: WireStopReason; stop_sequence: string | null } {
  switch (finishReason) {
    case "stop":
    case "abort":
      return stopSequence !== undefined && requested.includes(stopSequence)
        ? { stop_reason: "stop_sequence", stop_sequence: stopSequence }
        : { stop_reason: "end_turn", stop_sequence: null };
    case "length":
      return { stop_reason: lengthIsContextWindow ? "model_context_window_exceeded" : "max_tokens", stop_sequence: null };
    case "tool_calls":
      return { stop_reason: "tool_use", stop_sequence: null };
    default:
      return finishReason satisfies never;
  }
}

/** Anthropic's id of a tool call: moestro's `call_…` ids become `toolu_…`, the prefix Anthropic's clients know. */
export function toWireToolUseId(id: string): string {
  return id.startsWith("call_") ? `toolu_${id.slice("call_".length)}` : id;
}

/** A `tool_use` block of a call (its arguments, a JSON object decoded under the tool's grammar, parsed). */
export function toWireToolUse(toolCall: ToolCall): Extract<WireContentBlock, { type: "tool_use" }> {
  return { type: "tool_use", id: toWireToolUseId(toolCall.id), name: toolCall.name, input: JSON.parse(toolCall.arguments) as unknown };
}

/**
 * The content of a non-streamed answer, in the order the model wrote it: the thought (a `thinking` block, signed; its
 * text left out when `omitThinking`), the text, then the tool calls. Empty text gives no block.
 */
export function toWireContent(
  choice: { text: string; reasoning: string; toolCalls: readonly ToolCall[] },
  sign: (thinking: string) => string,
  omitThinking: boolean,
): WireContentBlock[] {
  const content: WireContentBlock[] = [];
  if (choice.reasoning.length > 0)
    content.push({ type: "thinking", thinking: omitThinking ? "" : choice.reasoning, signature: sign(choice.reasoning) });
  if (choice.text.length > 0) content.push({ type: "text", text: choice.text });
  for (const toolCall of choice.toolCalls) content.push(toWireToolUse(toolCall));
  return content;
}
