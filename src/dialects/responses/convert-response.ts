import type { FinishReason, ToolCall, Usage } from "../../spec/index.js";
import { createRandomId } from "../../util/random-id.js";
import type { ResponseRequest } from "./schemas.js";
import type { WireFunctionCallItem, WireMessageItem, WireOutputItem, WireReasoningItem, WireResponse, WireResponseUsage } from "./wire.js";

/** What every response object of one request carries besides its output: the request's settings, echoed. */
export interface ResponseContext {
  /** `resp_…`. */
  id: string;
  /** `created_at`, epoch seconds. */
  createdAtSeconds: number;
  /** The model that generates (an alias resolved). */
  model: string;
  /** The request, as parsed. */
  request: ResponseRequest;
  /** Whether the response is stored (`store`, true by default). */
  store: boolean;
}

/** A new response id: `resp_` and 32 random hex digits. */
export function createResponseId(): string {
  return `resp_${createRandomId("")}${createRandomId("").slice(0, 8)}`;
}

/** The usage in the Responses API's shape; unknown counts are 0 there (the field is not optional on the wire). */
export function toWireResponseUsage(usage: Usage): WireResponseUsage {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.cachedPromptTokens ?? 0 },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

/**
 * The status a finished generation gives its response: `incomplete` when `max_output_tokens` cut it (with
 * `incomplete_details.reason: "max_output_tokens"`), else `completed`.
 */
export function responseStatusOf(finishReason: FinishReason): "completed" | "incomplete" {
  return finishReason === "length" ? "incomplete" : "completed";
}

/**
 * The response object (Responses reference, "The response object"), echoing the request's settings: `instructions`,
 * `reasoning` (`effort` and `summary` as sent, `null` when absent), `text.format` as sent (`{type: "text"}` by
 * default), `tools` and `tool_choice` as sent, `metadata`, `user`, `prompt_cache_key`, `safety_identifier`, `store`.
 */
export function toWireResponse(
  context: ResponseContext,
  state: {
    status: WireResponse["status"];
    output: WireOutputItem[];
    usage?: Usage;
    completedAtSeconds?: number;
    error?: { code: string; message: string };
  },
): WireResponse {
  const { request } = context;
  const text: WireResponse["text"] = { format: (request.text?.format as Record<string, unknown> | null | undefined) ?? { type: "text" } };
  if (request.text?.verbosity) text.verbosity = request.text.verbosity;
  return {
    id: context.id,
    object: "response",
    created_at: context.createdAtSeconds,
    completed_at: state.completedAtSeconds ?? null,
    status: state.status,
    background: false,
    error: state.error ?? null,
    incomplete_details: state.status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    model: context.model,
    output: state.output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    reasoning: {
      effort: request.reasoning?.effort ?? request.reasoning_effort ?? null,
      summary: request.reasoning?.summary ?? null,
    },
    safety_identifier: request.safety_identifier ?? null,
    service_tier: "default",
    store: context.store,
    temperature: request.temperature ?? 1,
    text,
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_logprobs: request.top_logprobs ?? 0,
    top_p: request.top_p ?? 1,
    truncation: request.truncation ?? "disabled",
    usage: state.usage === undefined ? null : toWireResponseUsage(state.usage),
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

/** A finished reasoning item holding `text`. */
export function reasoningItem(id: string, text: string, status: "completed" | "incomplete"): WireReasoningItem {
  return { type: "reasoning", id, summary: [], content: [{ type: "reasoning_text", text }], encrypted_content: null, status };
}

/** A finished message item holding `text`. */
export function messageItem(id: string, text: string, status: "completed" | "incomplete"): WireMessageItem {
  return { type: "message", id, status, role: "assistant", content: [{ type: "output_text", text, annotations: [], logprobs: [] }] };
}

/** A finished function call item. */
export function functionCallItem(id: string, call: ToolCall): WireFunctionCallItem {
  return { type: "function_call", id, call_id: call.id, name: call.name, arguments: call.arguments, status: "completed" };
}

/**
 * The output items of a collected generation, in the order the model produced them: the `reasoning` item (when it
 * thought), the `message` (when it wrote text; a finished turn with neither text nor calls gets an empty message, so that
 * clients always find an answer), then one
 * `function_call` item per call. The streamed path produces the same items (`ResponseEventEncoder`).
 */
export function toOutputItems(choice: {
  text: string;
  reasoning: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
}): WireOutputItem[] {
  const status = responseStatusOf(choice.finishReason);
  const output: WireOutputItem[] = [];
  if (choice.reasoning.length > 0)
    output.push(
      reasoningItem(createRandomId("rs_"), choice.reasoning, choice.text.length > 0 || choice.toolCalls.length > 0 ? "completed" : status),
    );
  if (choice.text.length > 0 || (choice.toolCalls.length === 0 && status === "completed"))
    output.push(messageItem(createRandomId("msg_"), choice.text, status));
  for (const call of choice.toolCalls) output.push(functionCallItem(createRandomId("fc_"), call));
  return output;
}
