import type { EngineKind } from "./generate.js";

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
  /**
   * Explicit cache (`cache_control`): prompt tokens written to it, a subset of `promptTokens`; `undefined` when the
   * request marked none.
   */
  cacheCreationInputTokens?: number;
  /** Explicit cache: prompt tokens read from it, a subset of `promptTokens`; `undefined` when the request marked none. */
  cacheReadInputTokens?: number;
  /** Speculative decoding: tokens drafted and checked by the model, over all choices; `undefined` when none speculated. */
  draftTokens?: number;
  /** Speculative decoding: of `draftTokens`, those the model accepted; `undefined` when none speculated. */
  acceptedDraftTokens?: number;
  /**
   * The local engine's busy time charged to the request, ms, over all choices (`Usage.engineTimeMs`); `undefined` when
   * not measured (upstream requests). The price book's time pricing multiplies it by an hourly cost.
   */
  engineTimeMs?: number;
  /**
   * Whether the counts are estimates: an upstream that sent no usage, for a model this server has no tokenizer of
   * (docs/gateway.md). `undefined` (or false) when they are exact.
   */
  usageEstimated?: boolean;
}

/**
 * The endpoints that run a model, as the usage ledger records them: OpenAI's by their resource name
 * (`chat.completions`, `completions`, `embeddings`, `responses`), Anthropic's Messages API as `messages`, and Ollama's
 * API as `ollama.` and its route (`ollama.chat`, `ollama.generate`, `ollama.embed`; `/api/embeddings` is recorded as
 * `ollama.embed`).
 */
export type UsageEndpoint =
  | "chat.completions"
  | "completions"
  | "embeddings"
  | "responses"
  | "messages"
  | "ollama.chat"
  | "ollama.generate"
  | "ollama.embed";

/** What identifies a metered request, in its start and in its end. */
export interface UsageRequest {
  /** The request's id (`x-request-id`). */
  requestId: string;
  /** The API key's id when key checks are on, else `undefined`. */
  keyId?: string;
  /** The model id the request was served by. */
  model: string;
  /** The endpoint, as the ledger records it (see {@link UsageEndpoint}). */
  endpoint: UsageEndpoint;
  /** Whether the response was streamed. */
  stream: boolean;
  /** Which engine served it (the lease's `backend.engine().kind` when it was admitted); `undefined` when unknown. */
  engine?: EngineKind;
  /** The upstream that served it (engine `upstream` only; the first choice's when `n` > 1). */
  upstream?: string;
  /** Upstreams tried before one answered, that one included (engine `upstream` only). */
  attempts?: number;
  /** The model id the client asked for, when a fallback answered (`model` is the answering one); `undefined` otherwise. */
  requestedModel?: string;
  /** When the request started, epoch ms. */
  startedAtMs: number;
  /** Whether it is a line of a batch (docs/batch.md): billed at the price book's batch rate. Defaults to false. */
  batch?: boolean;
}

/**
 * What one API request consumed, reported once per request when it ends, by every endpoint that runs a model. The
 * usage ledger, budgets, token rate limits and metrics consume these events.
 */
export interface UsageEvent extends UsageRequest, UsageCounts {
  /**
   * How the request ended.
   * - `ok`: the response was sent whole: its last byte (the JSON body's, or the final `data: [DONE]`) was handed to the
   *   socket.
   * - `error`: it failed after the model started (the counts say what was produced).
   * - `aborted`: the client went away, while the model ran or before the response's last byte left; the counts say
   *   what was produced until then.
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
  /**
   * The most prompt tokens it can write to an explicit context cache (`cache_control` markers: the whole prompt at most),
   * billed at the cache-creation rate, which may be above the input price. Defaults to 0.
   */
  maxCacheCreationTokens?: number;
  /** The budget of its API key; `undefined` when the key has none (or key checks are off). */
  budget?: UsageBudget;
  /**
   * The counts so far: the prompt once known, and the tokens generated until now. Sinks may call it at any time until
   * the request's end is reported (the ledger does about once a second, as a heartbeat).
   */
  readCounts(): UsageCounts;
}

/**
 * One started request in a sink: where its end goes. Exactly one of `finish` and `cancel` is called, once; `checkpoint`
 * at most once, before `finish`.
 */
export interface UsageRun {
  /**
   * Records the request's final counts (what `UsageStart.readCounts` now returns) while it is still running: a last
   * heartbeat, awaited before the response's last bytes are written. A crash before `finish` then leaves a running row
   * with exact counts, which the restart's recovery settles as `interrupted`: nothing delivered is lost, and nothing
   * undelivered is billed as delivered. A sink that throws here turns the request into a 500 (or an error event in a
   * stream); the response's last bytes are not sent.
   */
  checkpoint(): Promise<void>;
  /**
   * Names the upstream that serves the request and the attempts it took, once chosen (a request to an upstream pool is
   * admitted before it is sent): its running row carries them from its next write on (the checkpoint, or a
   * heartbeat), so that a request cut by a crash is settled `interrupted` with them. Nothing is written now. Optional.
   */
  served?(fields: Pick<UsageEvent, "upstream" | "attempts">): void;
  /**
   * Reports the request's end; replaces {@link UsageSink.record} for this request. For a response that was sent (`ok`,
   * or `aborted` when the client went away before its last byte left) it runs after the last byte was handed to the
   * socket, when the response can no longer change: a sink that throws then is logged, and its row stays `running`
   * until the recovery settles it as `interrupted` with the counts of `checkpoint`. On the other paths it is awaited
   * like `record`.
   */
  finish(event: UsageEvent): Promise<void>;
  /**
   * The request was refused before the model ran it (a later sink's refusal, or input the model rejected with a 4xx):
   * forget it, as requests refused before admission are (no ledger row, no cost).
   */
  cancel(): Promise<void>;
}

/**
 * Receives the usage of model requests, once each, when the request ends:
 * - a response that was sent whole, or whose client went away after the model finished: after its last byte (the final
 *   `data: [DONE]`, or the JSON body) was handed to the socket, so that `ok` is never recorded for a body that never
 *   left; a sink that throws then is logged and the response stands (the ledger's run wrote the final counts before
 *   the last byte, through `UsageRun.checkpoint`);
 * - a request that failed or was aborted while the model ran: before its error is sent (the error event, or the error
 *   body); a sink that throws turns it into a 500 (or an error event in a stream).
 *
 * `record` is called for requests the sink did not start; a started request's end goes to its run's `finish` instead.
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
