/**
 * Response types of the OpenAI wire format, as moestro sends them (OpenAI API reference: the chat completion object,
 * the chat completion chunk object, the completion object, the model object, and the error object).
 */

/** `finish_reason` values moestro sends. */
export type WireFinishReason = "stop" | "length" | "tool_calls";

/** One token's entry of `choices[].logprobs.content`. */
export interface WireTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] | null }>;
}

/** A complete tool call of a message. */
export interface WireToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A tool call delta of a chunk: the first carries id, type and name; later ones only argument fragments. */
export interface WireToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

/** The `usage` object. */
export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /**
   * `cached_tokens`: prompt tokens served from the cache. The explicit cache's fields (Model Studio's names) only for a
   * request with `cache_control` markers: then `cached_tokens` counts the pinned prefix read.
   */
  prompt_tokens_details: {
    cached_tokens: number;
    cache_creation_input_tokens?: number;
    cache_creation?: { ephemeral_5m_input_tokens: number };
    cache_type?: "ephemeral";
  };
  /**
   * `accepted_prediction_tokens` and `rejected_prediction_tokens` (OpenAI's names, from its Predicted Outputs) count the
   * tokens speculative decoding drafted and the model accepted or rejected; present only when the request speculated.
   */
  completion_tokens_details: { reasoning_tokens: number; accepted_prediction_tokens?: number; rejected_prediction_tokens?: number };
}

/** `chat.completion`. */
export interface WireChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{
    index: number;
    message: {
      role: "assistant";
      content: string | null;
      refusal: null;
      /** The thought, apart from the answer (DashScope's and vLLM's field); absent when the model did not think. */
      reasoning_content?: string;
      /** Alias of `reasoning_content` (OpenRouter's and newer vLLM's spelling). */
      reasoning?: string;
      tool_calls?: WireToolCall[];
    };
    logprobs: { content: WireTokenLogprob[]; refusal: null } | null;
    finish_reason: WireFinishReason;
  }>;
  usage: WireUsage;
}

/** `chat.completion.chunk`. `usage` is present (null, or set on the last chunk) only when the client asked for it. */
export interface WireChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{
    index: number;
    delta: { role?: "assistant"; content?: string; reasoning_content?: string; reasoning?: string; tool_calls?: WireToolCallDelta[] };
    logprobs: { content: WireTokenLogprob[]; refusal: null } | null;
    finish_reason: WireFinishReason | null;
  }>;
  usage?: WireUsage | null;
}

/** `text_completion`, also the shape of each streamed completion chunk. */
export interface WireCompletion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: number; text: string; logprobs: null; finish_reason: WireFinishReason | null }>;
  usage?: WireUsage | null;
}

/** The response of `POST /v1/embeddings`. */
export interface WireEmbeddingList {
  object: "list";
  data: Array<{ object: "embedding"; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** A model object of `/v1/models`. */
export interface WireModel {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/** The error body of every non-2xx response, and of a failure inside a stream. */
export interface WireError {
  error: { message: string; type: string; param: string | null; code: string | null };
}
