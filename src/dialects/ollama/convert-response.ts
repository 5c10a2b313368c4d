import type { FinishReason, ToolCall, Usage } from "../../spec/index.js";
import type { OllamaWireMetrics, OllamaWireToolCall } from "./wire.js";

/**
 * Ollama's `done_reason` of a finished generation: `length` when `num_predict` ran out, `stop` otherwise (an end of
 * turn, a stop sequence, and tool calls too, as Ollama reports them).
 */
export function toDoneReason(reason: FinishReason): "stop" | "length" {
  return reason === "length" ? "length" : "stop";
}

/**
 * A tool call in Ollama's shape (docs/api.md "Chat request (with tools)"): `arguments` parsed into an object (case
 * D12); `index` is the call's position in the turn. Arguments that are not a JSON object (never, once the serving layer
 * has checked them against the tool's schema) become `{}`.
 */
export function toOllamaToolCall(call: ToolCall, index: number): OllamaWireToolCall {
  let parsed: unknown;
  try {
    parsed = JSON.parse(call.arguments);
  } catch {
    parsed = {};
  }
  const args = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  return { id: call.id, function: { index, name: call.name, arguments: args } };
}

/**
 * When a generation's phases happened, `performance.now()` ms: the request's start, its admission (the model held and
 * the prompt admitted), its first part and its end.
 */
export interface GenerationTimes {
  startedAtMs: number;
  admittedAtMs: number;
  firstPartAtMs: number | undefined;
  endedAtMs: number;
}

/** ms to whole ns: Ollama's durations are nanoseconds (docs/api.md: "All durations are returned in nanoseconds"). */
export function toNanoseconds(ms: number): number {
  return Math.max(0, Math.round(ms * 1e6));
}

/**
 * The metrics of a generation's last object: `load_duration` is getting the model (its load when it was not loaded)
 * and admitting the request; `prompt_eval_duration` runs from there to the first part (the prompt's evaluation);
 * `eval_duration` from the first part to the end.
 */
export function toOllamaMetrics(times: GenerationTimes, usage: Usage, doneReason: OllamaWireMetrics["done_reason"]): OllamaWireMetrics {
  const firstPartAtMs = times.firstPartAtMs ?? times.endedAtMs;
  return {
    done_reason: doneReason,
    total_duration: toNanoseconds(times.endedAtMs - times.startedAtMs),
    load_duration: toNanoseconds(times.admittedAtMs - times.startedAtMs),
    prompt_eval_count: usage.promptTokens,
    prompt_eval_duration: toNanoseconds(firstPartAtMs - times.admittedAtMs),
    eval_count: usage.completionTokens,
    eval_duration: toNanoseconds(times.endedAtMs - firstPartAtMs),
  };
}
