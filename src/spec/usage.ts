/**
 * What one API request consumed, reported once per request when it ends, by every endpoint that runs a model. The
 * usage ledger, budgets, token rate limits and metrics consume these events.
 */
export interface UsageEvent {
  /** The request's id (`x-request-id`). */
  requestId: string;
  /** The API key's id when key checks are on, else `undefined`. */
  keyId?: string;
  /** The model id the request was served by. */
  model: string;
  /** The endpoint, as its OpenAI resource name. */
  endpoint: "chat.completions" | "completions" | "embeddings";
  /** Whether the response was streamed. */
  stream: boolean;
  /**
   * How the request ended.
   * - `ok`: the response was sent whole.
   * - `error`: it failed after the model started (the counts say what was produced).
   * - `aborted`: the client went away; the counts say what was produced until then.
   */
  status: "ok" | "error" | "aborted";
  /** Prompt tokens (the whole templated prompt, once per request even with `n` choices). */
  promptTokens: number;
  /** Prompt tokens served from a reused KV-cache prefix. */
  cachedPromptTokens: number;
  /** Generated tokens over all choices, reasoning included. */
  completionTokens: number;
  /** Generated tokens that were reasoning (thinking), a subset of `completionTokens`. */
  reasoningTokens: number;
  /** When the request started, epoch ms. */
  startedAtMs: number;
  /** Time to first generated token, ms; `undefined` when none was generated. */
  timeToFirstTokenMs?: number;
  /** Time from the request's start to the end of its response, ms. */
  latencyMs: number;
  /** The error code when `status` is `error`. */
  errorCode?: string;
}

/**
 * Receives one {@link UsageEvent} per request. `record` is awaited on the request path before the response's last byte
 * is sent (the final `[DONE]`, or the JSON body), so that a committed response always has its record; a sink that
 * throws turns the request into a 500 (or an error event in a stream).
 */
export interface UsageSink {
  /** Stores or counts one event. */
  record(event: UsageEvent): Promise<void>;
}
