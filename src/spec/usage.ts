/** The token counts of one request, so far or in the end. */
export interface UsageCounts {
  /** Prompt tokens (the whole templated prompt, once per request even with `n` choices). */
  promptTokens: number;
  /** Prompt tokens served from a reused KV-cache prefix. */
  cachedPromptTokens: number;
  /** Generated tokens over all choices, reasoning included. */
  completionTokens: number;
  /** Generated tokens that were reasoning (thinking), a subset of `completionTokens`. */
  reasoningTokens: number;
}

/** What identifies a metered request, in its start and in its end. */
export interface UsageRequest {
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
  /** When the request started, epoch ms. */
  startedAtMs: number;
}

/**
 * What one API request consumed, reported once per request when it ends, by every endpoint that runs a model. The
 * usage ledger, budgets, token rate limits and metrics consume these events.
 */
export interface UsageEvent extends UsageRequest, UsageCounts {
  /**
   * How the request ended.
   * - `ok`: the response was sent whole.
   * - `error`: it failed after the model started (the counts say what was produced).
   * - `aborted`: the client went away; the counts say what was produced until then.
   */
  status: "ok" | "error" | "aborted";
  /** Time to first generated token, ms; `undefined` when none was generated. */
  timeToFirstTokenMs?: number;
  /** Time from the request's start to the end of its response, ms. */
  latencyMs: number;
  /** The error code when `status` is `error`. */
  errorCode?: string;
}

/** The spending limit of the API key a request runs under. */
export interface UsageBudget {
  /** The key's name, for messages. */
  keyName: string;
  /** Spend allowed per period, micro-USD. */
  limitMicroUsd: number;
  /** The UTC calendar period the limit renews on. */
  period: "day" | "month";
}

/**
 * A request admitted to a model, reported once, after its prompt was tokenized and a sequence was taken, and before
 * any byte of its response was sent.
 */
export interface UsageStart extends UsageRequest {
  /** The most prompt tokens it can be billed for: the prompt's tokens when known, else a bound. */
  maxPromptTokens: number;
  /** The most tokens it can generate over all its choices: `n × max_tokens`, or `n ×` the context's remainder. */
  maxCompletionTokens: number;
  /** The budget of its API key; `undefined` when the key has none (or key checks are off). */
  budget?: UsageBudget;
  /**
   * The counts so far: the prompt once known, and the tokens generated until now. Sinks may call it at any time until
   * the request's end is reported (the ledger does about once a second, as a heartbeat).
   */
  readCounts(): UsageCounts;
}

/** One started request in a sink: where its end goes. Exactly one of `finish` and `cancel` is called, once. */
export interface UsageRun {
  /** Reports the request's end; replaces {@link UsageSink.record} for this request. Awaited like `record`. */
  finish(event: UsageEvent): Promise<void>;
  /**
   * The request was refused before the model ran it (a later sink's refusal, or input the model rejected with a 4xx):
   * forget it, as requests refused before admission are (no ledger row, no cost).
   */
  cancel(): Promise<void>;
}

/**
 * Receives the usage of model requests. `record` (or, for a request the sink started, its run's `finish`) is awaited on
 * the request path before the response's last byte is sent (the final `[DONE]`, or the JSON body), so that a
 * committed response always has its record; a sink that throws turns the request into a 500 (or an error event in a
 * stream).
 */
export interface UsageSink {
  /**
   * Optional: takes note of an admitted request before it runs, and resolves the run its end goes to. Sinks are started
   * in order; one that throws refuses the request (the ledger does when the key's budget cannot cover the request's
   * worst case: `insufficient_quota`), which then ends with that error before any byte is sent, and the runs already
   * started are cancelled. Requests that are never started (or sinks without `start`) get `record` at their end.
   */
  start?(start: UsageStart): Promise<UsageRun>;
  /** Stores or counts one event. */
  record(event: UsageEvent): Promise<void>;
}
