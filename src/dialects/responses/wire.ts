/**
 * The Responses API's wire types that moestro sends (OpenAI API reference: Responses, "The response object" and
 * "Streaming events"). Only what moestro produces is typed; field names are the wire's (snake_case).
 */

/** An `output_text` content part of a message. */
export interface WireOutputText {
  type: "output_text";
  text: string;
  annotations: unknown[];
  logprobs: unknown[];
}

/** The assistant's answer. */
export interface WireMessageItem {
  type: "message";
  id: string;
  status: "in_progress" | "completed" | "incomplete";
  role: "assistant";
  content: WireOutputText[];
}

/**
 * The model's thought, as open-weight reasoning models return it: the raw text in `content` as `reasoning_text` parts
 * (what the `openai` client accumulates and Codex CLI shows as reasoning content); `summary` is always empty (moestro
 * writes no summaries).
 */
export interface WireReasoningItem {
  type: "reasoning";
  id: string;
  summary: Array<{ type: "summary_text"; text: string }>;
  content: Array<{ type: "reasoning_text"; text: string }>;
  encrypted_content: null;
  status?: "in_progress" | "completed" | "incomplete";
}

/** A call of a function tool, for the client to run. */
export interface WireFunctionCallItem {
  type: "function_call";
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: "in_progress" | "completed" | "incomplete";
}

/** One item of `output`. */
export type WireOutputItem = WireMessageItem | WireReasoningItem | WireFunctionCallItem;

/** `usage` of a response. */
export interface WireResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The response object (`object: "response"`). */
export interface WireResponse {
  id: string;
  object: "response";
  created_at: number;
  completed_at: number | null;
  status: "in_progress" | "completed" | "incomplete" | "failed";
  background: boolean;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  model: string;
  output: WireOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  prompt_cache_key: string | null;
  reasoning: { effort: string | null; summary: string | null };
  safety_identifier: string | null;
  service_tier: string;
  store: boolean;
  temperature: number;
  text: { format: Record<string, unknown>; verbosity?: string };
  tool_choice: unknown;
  tools: unknown[];
  top_logprobs: number;
  top_p: number;
  truncation: string;
  usage: WireResponseUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** A streaming event: its `type` is also the SSE event's name; `sequence_number` increases by one per event from 0. */
export type WireStreamEvent = { type: string; sequence_number: number } & Record<string, unknown>;

/** `DELETE /v1/responses/{id}`'s answer. */
export interface WireDeletedResponse {
  id: string;
  object: "response";
  deleted: true;
}
