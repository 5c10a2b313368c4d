/**
 * Response types of the OpenAI wire format, as moestro sends them (OpenAI API reference: the chat completion object,
 * the chat completion chunk object, the completion object, the model object, and the error object).
 */

/** `finish_reason` values moestro sends. */
export type WireFinishReason = "stop" | "length";

/** The `usage` object. */
export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
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
    message: { role: "assistant"; content: string; refusal: null };
    logprobs: null;
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
    delta: { role?: "assistant"; content?: string };
    logprobs: null;
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
