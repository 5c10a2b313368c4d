/**
 * The Anthropic Messages wire types moestro sends (Anthropic API reference: "Messages", "Streaming Messages", "Models").
 * snake_case as on the wire; translated from moestro's contract in `convert-response.ts` and `stream-encoder.ts`.
 */

/**
 * Why a message ended (Messages reference, `stop_reason`); moestro produces these five (`model_context_window_exceeded`
 * when a `max_tokens` larger than the context window allows was lowered and the window filled).
 */
export type WireStopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "model_context_window_exceeded";

/**
 * A message's `usage`, as Anthropic counts it: `input_tokens` excludes the tokens read from the cache
 * (`cache_read_input_tokens`: a pinned prefix read, or the prefix moestro reused by itself when the request marked no
 * `cache_control`) and those written to it (`cache_creation_input_tokens`, 0 without markers).
 */
export interface WireUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  /** By TTL, for a request with `cache_control` markers only: moestro's pins all live 5 minutes. */
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

/** A content block of an answer. */
export type WireContentBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: unknown };

/** The body of a non-streamed answer, and the `message` of `message_start` (then with empty `content`). */
export interface WireMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: WireContentBlock[];
  stop_reason: WireStopReason | null;
  /** Always present: `null` unless `stop_reason` is `stop_sequence` (case D05). */
  stop_sequence: string | null;
  usage: WireUsage;
}

/** A delta of a content block. */
export type WireContentBlockDelta =
  | { type: "text_delta"; text: string }
  | { type: "thinking_delta"; thinking: string }
  | { type: "signature_delta"; signature: string }
  | { type: "input_json_delta"; partial_json: string };

/** The events of a streamed answer, in their order (Streaming Messages, "Event types"). */
export type WireStreamEvent =
  | { type: "message_start"; message: WireMessage }
  | { type: "content_block_start"; index: number; content_block: WireContentBlock }
  | { type: "ping" }
  | { type: "content_block_delta"; index: number; delta: WireContentBlockDelta }
  | { type: "content_block_stop"; index: number }
  | {
      type: "message_delta";
      /** Both keys always present (case D05). */
      delta: { stop_reason: WireStopReason; stop_sequence: string | null };
      usage: WireUsage;
    }
  | { type: "message_stop" };

/** The answer of `POST /v1/messages/count_tokens`. */
export interface WireTokenCount {
  input_tokens: number;
}

/** A model as `GET /v1/models` lists it for Anthropic's clients (Models reference, "List Models"). */
export interface WireModelInfo {
  type: "model";
  id: string;
  display_name: string;
  /** RFC 3339. */
  created_at: string;
}

/** `GET /v1/models` for Anthropic's clients: one page with every model. */
export interface WireModelList {
  data: WireModelInfo[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}
