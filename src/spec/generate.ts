/**
 * moestro's internal contract between the API layer and the engines. Types only: the OpenAI wire format is translated
 * to and from these shapes in `src/dialects/openai/`, and every backend (the embedded llama.cpp engine today, upstream servers
 * later) implements {@link ModelBackend}.
 */

/** A tool call made by the model, as carried in history and in results. */
export interface ToolCall {
  /** The call's id (`call_…`), unique within a response. */
  id: string;
  /** The function's name. */
  name: string;
  /** The arguments, a JSON object serialised as a string (OpenAI's `function.arguments`). */
  arguments: string;
}

/** A chat message after normalisation: text only, system messages merged into one leading message. */
export type ChatMessage =
  | { role: "system"; text: string }
  | { role: "user"; text: string }
  | { role: "assistant"; text: string; toolCalls?: ToolCall[] }
  | { role: "tool"; toolCallId: string; text: string };

/** A function the model may call. */
export interface ToolDefinition {
  /** The function's name. */
  name: string;
  /** What it does, shown to the model. */
  description?: string;
  /** JSON schema of its arguments object. Defaults to an object with no properties. */
  parameters?: Record<string, unknown>;
}

/**
 * Which tools the model may call.
 * - `auto`: the model decides.
 * - `none`: no tool call (enforced at decoding: the tool-call token is banned).
 * - `required`: at least one call (forced at decoding).
 * - `function`: exactly the named function (forced at decoding).
 */
export type ToolChoice = { type: "auto" } | { type: "none" } | { type: "required" } | { type: "function"; name: string };

/** Tool calling options of a chat request. */
export interface ToolOptions {
  /** The callable functions. */
  definitions: ToolDefinition[];
  /** Which tools the model may call. */
  choice: ToolChoice;
  /** Whether the model may call several tools in one turn. Defaults to true (OpenAI's default). */
  parallel: boolean;
}

/**
 * Structured output. Which layer guarantees what, for every engine and dialect:
 * - the serving layer (`src/api/serving/`) compiles the schema before the request reaches a backend (a schema it cannot
 *   compile, or one past its size bounds, is a 400 and never generates), and validates each finished answer once, after
 *   decoding, with the one Ajv validator shared by every route and dialect (`invalid_model_output` when it fails);
 * - the backend constrains decoding with a grammar built from the schema, so that a finished answer parses and matches;
 *   it refuses (400) a schema keyword its grammar cannot enforce. It does not validate its output again.
 * - `json_object`: any JSON object.
 * - `json_schema`: a JSON value of the given schema.
 */
export type ResponseFormat = { type: "json_object" } | { type: "json_schema"; name: string; schema: Record<string, unknown> };

/** Thinking (reasoning) options of a chat request, for models that think (Qwen3, Qwen3.5). */
export interface ThinkingOptions {
  /** Whether the model thinks before answering. `undefined` means the model's default (from config). */
  enabled?: boolean;
  /** The most tokens the thought may take; when reached the thought is closed and the answer follows. Defaults to no limit. */
  budgetTokens?: number;
}

/** The log-probability of one generated token and of its most likely alternatives. */
export interface TokenLogprob {
  /** The token's text. */
  token: string;
  /** Natural log of its probability, at most 0; finite (a probability of 0 is reported as -9999). */
  logprob: number;
  /** The token's UTF-8 bytes (a token may hold part of a character). */
  bytes: number[];
  /** The most likely tokens at this position, most likely first (as many as asked for). */
  top: Array<{ token: string; logprob: number; bytes: number[] }>;
}

/** Sampling options of one generation. Every field is optional; the backend applies OpenAI's defaults. */
export interface SamplingOptions {
  /** Softmax temperature, 0 to 2; 0 is greedy decoding. Defaults to 1 (OpenAI's default). */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability mass reaches `topP`, 0 to 1. Defaults to 1 (off). */
  topP?: number;
  /** Keep only the `topK` most likely tokens; 0 turns it off (the whole vocabulary). Defaults to 40, as llama.cpp and Ollama. */
  topK?: number;
  /** Drop tokens whose probability is below `minP` times the top token's, 0 to 1. Defaults to 0 (off). */
  minP?: number;
  /** Seed of the sampler's random generator; the same seed and request give the same output. Defaults to a random seed. */
  seed?: number;
  /** OpenAI `presence_penalty`, -2 to 2: subtracted once from the logit of every token already generated. Defaults to 0. */
  presencePenalty?: number;
  /** OpenAI `frequency_penalty`, -2 to 2: subtracted from a token's logit once per earlier occurrence. Defaults to 0. */
  frequencyPenalty?: number;
}

/** What to generate: a chat turn rendered with the model's chat template, or a raw text completion. */
export type GenerateInput = { kind: "chat"; messages: ChatMessage[] } | { kind: "completion"; prompt: string };

/** One generation request, as the API layer hands it to a backend. */
export interface GenerateRequest {
  /** The chat messages or the raw prompt. */
  input: GenerateInput;
  /** The most tokens to generate; `undefined` means the rest of the context window. */
  maxTokens?: number;
  /** Sampling options. */
  sampling: SamplingOptions;
  /** Stop sequences: generation ends before the first one, which is not returned, not even in part. Defaults to none. */
  stop: string[];
  /**
   * Aborts the generation (client gone, server shutting down). Set by the serving layer from the request's own signal;
   * dialect converters leave it unset. The stream then ends with a `finish` part whose reason is `abort`.
   */
  signal?: AbortSignal;
  /** Thinking options (chat only). Defaults to the model's default. */
  thinking?: ThinkingOptions;
  /** Tools the model may call (chat only). Defaults to none. */
  tools?: ToolOptions;
  /** Structured output (chat only). Defaults to free text. */
  responseFormat?: ResponseFormat;
  /**
   * OpenAI's `logit_bias`: `[token id, bias]` pairs, bias -100 to 100 added to the token's logit before sampling; -100
   * bans the token. Token ids are checked against the vocabulary by the local engines (400 naming `param`). Defaults
   * to none.
   */
  logitBias?: ReadonlyArray<readonly [token: number, bias: number]>;
  /**
   * The first option of the client's request that only a remote server could honour (OpenAI's `audio`,
   * `web_search_options`…): the serving layer refuses the request with 400 `unsupported_parameter` naming `param` when
   * a local engine would serve it, and an upstream gets the option as it came (in `passthrough`). Set by the OpenAI
   * dialect.
   */
  refusedLocally?: { param: string; message: string };
  /**
   * How the client's dialect names the input and the cap on generated tokens, for a `context_length_exceeded` error
   * (the Responses API's `input` and `max_output_tokens`): its message names both, and its `param` names `maxTokens`
   * when the prompt fits alone but not with the cap. Defaults to Chat Completions' names (`messages`, or `prompt` for a
   * completion, and `max_tokens`), `param` then naming the input in both cases, as OpenAI does.
   */
  paramNames?: { input: string; maxTokens: string };
  /** Token log-probabilities: `top` alternatives per token, 0 to 20. Defaults to none. */
  logprobs?: { top: number };
  /**
   * Top-level fields of the client's OpenAI request that moestro does not read (a server's own options, such as vLLM's
   * `repetition_penalty` or `guided_choice`), and `user`, as the client sent them: an upstream backend adds them to the
   * request it sends (fields moestro sets itself win); the local engines ignore them. Set by the OpenAI dialect only.
   */
  passthrough?: Record<string, unknown>;
  /**
   * The request's id (the client's `x-request-id`, else one moestro made), which an upstream backend sends on as
   * `x-request-id` so that both servers' logs name the request alike. Set by the serving layer.
   */
  requestId?: string;
  /**
   * The session the request belongs to, when session affinity is on (`gateway.affinity`): an upstream pool sends it to
   * the member that served the session last (docs/gateway.md). Set by the serving layer; the local engines ignore it.
   */
  session?: string;
  /**
   * `batch` for a line of a batch (docs/batch.md): it takes a slot only when no interactive request waits for one and
   * another slot stays free, and its decoding pauses while an interactive request waits for its first token. Set by the
   * serving layer. Defaults to interactive.
   */
  priority?: "batch";
  /**
   * Whether the caller collects the whole answer before it sends anything (a non-streamed response): a backend may then
   * produce it in one piece. An upstream backend asks the upstream for a non-streamed answer (one JSON body, not an SSE
   * stream), which costs both servers less (docs/gateway.md, "Overhead"); the local engines ignore it. Set by the
   * serving layer. Defaults to false.
   */
  whole?: boolean;
  /**
   * Whether to decode speculatively, when the model has speculative decoding configured (models[].speculative); it
   * changes speed only, never a greedy output. `undefined` is the model's default (`speculative.byDefault`).
   */
  speculative?: boolean;
  /**
   * Explicit context cache (`cache_control: {"type": "ephemeral"}`, Anthropic's and Model Studio's spelling): for each
   * marked message or content block, in request order, the chat up to and including it, converted as `input.messages`
   * is (chat only; at most 4, `maxCacheBreakpoints` of src/engines/context-cache.ts). The engine pins the prompt prefix
   * each one renders to for 5 minutes, renewed by each hit, and reports `cacheCreationInputTokens` and
   * `cacheReadInputTokens` (docs/context-cache.md). Defaults to none.
   */
  cacheBreakpoints?: ChatMessage[][];
}

/** Token counts of one generation. A count that is not known is `undefined`, never a guessed 0. */
export interface Usage {
  /** Tokens of the prompt as the model saw it (the templated chat), counted in full even when a cached prefix was reused. */
  promptTokens: number;
  /** Tokens generated, including those of a stop sequence that was cut from the text; excluding the end-of-generation token. */
  completionTokens: number;
  /** Prompt tokens whose KV cache was reused from an earlier request on the same sequence (prefix reuse). */
  cachedPromptTokens?: number;
  /** Generated tokens that were reasoning (thinking), a subset of `completionTokens`. */
  reasoningTokens?: number;
  /** Explicit cache: prompt tokens written to it (a new pin); `undefined` when the request marked no `cache_control`. */
  cacheCreationInputTokens?: number;
  /** Explicit cache: prompt tokens read from a live pin; `undefined` when the request marked no `cache_control`. */
  cacheReadInputTokens?: number;
  /** Speculative decoding: tokens drafted and checked by the model; `undefined` when the request did not speculate. */
  draftTokens?: number;
  /** Speculative decoding: of `draftTokens`, those the model accepted; `undefined` when the request did not speculate. */
  acceptedDraftTokens?: number;
  /**
   * The local engine's busy time charged to this generation, ms: its evaluation steps' shares of the engine's time (a
   * step batched with others is shared by tokens evaluated; docs/studio.md, "Cost of local tokens"). `undefined` when
   * not measured (upstream backends, scripted tests).
   */
  engineTimeMs?: number;
  /**
   * Whether the counts are estimates (an upstream that sent no usage, for a model this server has no tokenizer of:
   * docs/gateway.md); `undefined` when they are exact.
   */
  estimated?: boolean;
}

/**
 * Why a generation ended.
 * - `stop`: the model emitted an end-of-generation token, or a stop sequence was reached.
 * - `length`: `maxTokens` was reached.
 * - `tool_calls`: the model called one or more tools (never without a `tool-call` part).
 * - `abort`: the request's signal was aborted (client gone); the usage counts what was generated until then.
 */
export type FinishReason = "stop" | "length" | "tool_calls" | "abort";

/**
 * One part of a generation stream. Reasoning parts all come before the first text part of a thought-then-answer turn.
 * - `text-delta`: the next piece of the answer; pieces never split a UTF-8 character. `logprobs` holds one entry per
 *   token that completed since the previous text part, when log-probabilities were asked for.
 * - `reasoning-delta`: the next piece of the thought, without its `<think>` tags.
 * - `tool-call`: one complete tool call, its arguments decoded under the tool's schema grammar (validated once, after
 *   decoding, by the serving layer; see {@link ResponseFormat}).
 * - `finish`: the last part, exactly once. `stopSequence` is the stop text that ended a `stop` finish, when one did: one
 *   of the request's `stop`, or a stop text of the model's chat template (which dialects read as a natural end).
 */
export type StreamPart =
  | { type: "text-delta"; text: string; logprobs?: TokenLogprob[] }
  | { type: "reasoning-delta"; text: string }
  | { type: "tool-call"; toolCall: ToolCall }
  | { type: "finish"; finishReason: FinishReason; usage: Usage; stopSequence?: string };

/**
 * A generation that has been admitted: the prompt was tokenized and fits, and a sequence slot is held. Iterate it once to
 * run the generation; it yields `text-delta` parts in order and exactly one `finish` part, last. Ending the iteration
 * early (`break`, `return()`) stops generation and frees the slot. Failures are thrown from the iterator.
 */
export interface GenerationStream extends AsyncIterable<StreamPart> {
  /**
   * Tokens of the prompt, known before the first token is generated. An upstream backend does not know them before
   * the upstream's usage arrives with the last chunk: it gives a bound (one token per UTF-8 byte of the prompt's text,
   * plus a margin per message), and its `finish` part carries the upstream's exact count.
   */
  readonly promptTokens: number;
  /**
   * The prompt's cache counts, as the `finish` part's usage will give them (`cachedPromptTokens`, and the explicit
   * cache's `cacheReadInputTokens` and `cacheCreationInputTokens` when the request marked prefixes), once the engine
   * knows them: the in-process engine sets it when it reuses the prefix, before the prefill and so before the first
   * part; `undefined` until then, and throughout for an engine that learns them only from its answer (a llama-server
   * worker, an upstream), whose `finish` part carries them.
   */
  readonly promptCacheUsage?: Pick<Usage, "cachedPromptTokens" | "cacheReadInputTokens" | "cacheCreationInputTokens">;
  /** Which upstream serves this generation, and after how many attempts (upstream backends only). */
  readonly servedBy?: UpstreamServed;
  /**
   * Whether the parts arrive all at once, after the whole answer (an upstream asked without streaming, `whole`): the
   * time to the first part is then no time to the first token, and is not recorded. Defaults to false.
   */
  readonly arrivesWhole?: boolean;
  /** Stops the generation if it runs and frees its sequence; needed only when the stream may not be iterated to the end. Idempotent. */
  close(): Promise<void>;
}

/** What a request sent to another server can be billed for at most ({@link ModelBackend.admissionBound}). */
export interface AdmissionBound {
  /** The prompt's tokens: exact when `exact`, else a bound (one token per UTF-8 byte of its text, and a margin per message). */
  promptTokens: number;
  /** Whether `promptTokens` is the exact count (a local tokenizer's) rather than a bound. */
  exact: boolean;
  /** The context window (tokens) that bounds one choice's completion when the request sets no `maxTokens`. */
  contextTokens: number;
}

/** Facts about a served model, for `/v1/models` and the logs. */
export interface ModelInfo {
  /** The id clients send as `model`. */
  id: string;
  /** Path of the GGUF file. */
  path: string;
  /** GGUF `general.architecture` (`llama`, `qwen3moe`). */
  architecture: string;
  /** Context window of one sequence, in tokens. */
  contextTokens: number;
  /** How many sequences decode in parallel (continuous batching slots). */
  parallelSequences: number;
  /** Name of the chat wrapper that renders chat messages (`Qwen`, `Llama2Chat`). */
  chatWrapperName: string;
  /** Whether the GGUF has its own chat template (`tokenizer.chat_template`); without one a fallback wrapper is used. */
  hasChatTemplate: boolean;
  /** Whether the model can think (its vocabulary has `<think>` and `</think>` tokens). */
  canThink: boolean;
  /** Whether the model thinks when a request does not say (from config). */
  thinksByDefault: boolean;
  /** Whether the model can call tools (its vocabulary has `<tool_call>` and `</tool_call>` tokens). */
  canCallTools: boolean;
  /** Length of its embedding vectors (the hidden size). */
  embeddingDimensions: number;
  /** Tokens in its vocabulary. */
  vocabularySize: number;
  /** When the model was loaded, epoch seconds (OpenAI's `created`). */
  createdAtSeconds: number;
}

/** Live counters of a backend, for tests, logs and metrics. */
export interface BackendStats {
  /** Sequences currently generating or prefilling. */
  sequencesInUse: number;
  /** Requests waiting for a sequence. */
  queuedRequests: number;
  /** Generations currently running (a sequence is held and tokens are being produced). */
  activeGenerations: number;
  /** Tokens generated since the model was loaded. */
  generatedTokensTotal: number;
}

/**
 * Which engine runs a model: node-llama-cpp in this process, a managed llama.cpp server worker process, or remote
 * OpenAI-compatible servers (`upstreams` in the config, docs/gateway.md).
 */
export type EngineKind = "inproc" | "llama-server" | "upstream";

/** The upstream that served a generation, for the response's `x-moestro-upstream` header and the ledger. */
export interface UpstreamServed {
  /** The upstream's name (`upstreams[].name`, or its host and port). */
  upstream: string;
  /** Upstreams tried for this generation, the one that served it included (1 when the first answered). */
  attempts: number;
}

/**
 * The state of one upstream as `ps`, `/metrics` and the console show it.
 * - `healthy`: requests go to it.
 * - `ejected`: it failed its health check, or too many requests in a row; no request goes to it until `ejectedUntilMs`
 *   has passed and a health check or a trial request succeeds.
 */
export interface UpstreamInfo {
  /** Its name. */
  name: string;
  /** Its base URL (`http://host:8000/v1`), without credentials. */
  url: string;
  /** What it is (`vllm`, `llama-server`, `moestro`, `openai-compatible`, …), from the config. */
  kind: string;
  state: "healthy" | "ejected";
  /** Its balancing weight (config `weight`). */
  weight: number;
  /** Requests it is serving now. */
  inFlight: number;
  /**
   * Requests waiting in its own queue as its `/metrics` last said (vLLM `vllm:num_requests_waiting`, SGLang
   * `sglang:num_queue_reqs`, llama.cpp `llamacpp:requests_deferred`, moestro `moestro_queue_depth`); `undefined` for a
   * kind that publishes none, or when no reading is fresh.
   */
  queued?: number;
  /** The fraction of its KV cache in use, 0 to 1, as its `/metrics` last said; `undefined` when it does not say. */
  kvCacheUsage?: number;
  /** Requests sent to it since start. */
  requestsTotal: number;
  /** Requests it failed since start (connection refused, timeout, 5xx, 429, a broken stream). */
  errorsTotal: number;
  /** Failures in a row (0 after a success). */
  consecutiveFailures: number;
  /** Moving average of its time to the first streamed event (or to the whole JSON answer), ms; `undefined` before its first answer. */
  latencyMs: number | undefined;
  /** The median of its latest times to the first event (the last 100), ms; `undefined` before its first answer or where not kept. */
  latencyP50Ms?: number;
  /** How many of its latest attempts `recentErrorRate` is over (answered whole or failed, the last 100); absent where not kept. */
  recentAttempts?: number;
  /** Its failed attempts among the latest `recentAttempts`, 0 to 1; `undefined` when there are none or where not kept. */
  recentErrorRate?: number;
  /** Until when it is left out, epoch ms (ejected, or a 429's `Retry-After`); `undefined` when it is not. */
  ejectedUntilMs: number | undefined;
  /**
   * Why it is ejected (its health check's failure, the refusal of its `GET /v1/models`: a 401 or 403, or its last
   * request's failure); `undefined` while it is not, and where not kept.
   */
  reason?: string;
  /** The model ids it serves (configured, or discovered from its `GET /v1/models`). */
  models: readonly string[];
}

/** A llama-server worker process as `ps` shows it. */
export interface WorkerInfo {
  /** The running process's id; `null` while it restarts. */
  pid: number | null;
  /** Path of the llama-server binary. */
  binary: string;
  /** What the binary says it is (`version: 1 (80fb11a)` from `--version`). */
  version: string;
  /** Its arguments, the API key replaced by `***`. */
  args: string[];
  /** Restarts since the model was loaded (after the worker died). */
  restarts: number;
  /** When the running process started, epoch ms. */
  startedAtMs: number;
  /** Its speculative decoding (models[].speculative, as applied); absent when it was started without. */
  speculation?: WorkerSpeculationInfo;
}

/**
 * A worker's speculative decoding as `ps` and `/metrics` show it: what it was started with, and whether it backed off
 * (restarted without speculation because too few drafted tokens were accepted; docs/engine.md, "On llama-server
 * workers").
 */
export interface WorkerSpeculationInfo {
  /** `draft` (a draft model) or `ngram` (prompt lookup). */
  type: "draft" | "ngram";
  /** The back-off, once decided; absent while the worker speculates. */
  backedOff?: {
    /** The share of the window's drafted tokens that were accepted, 0 to 1. */
    acceptance: number;
    /** The window's drafted tokens. */
    draftTokens: number;
    /** When it was decided, epoch ms. */
    atMs: number;
    /**
     * From the decision until the worker without speculation was ready, ms (the requests in flight finishing, the old
     * process stopping, the new one loading); absent while it restarts.
     */
    restartMs?: number;
  };
}

/** Where a model's weights sit. */
export interface PlacementInfo {
  /** In words: `all on the GPU`, `experts of the first 86 layers in RAM, the rest on the GPU`, `CPU only`. */
  description: string;
  /** Layers on the GPU (llama.cpp `-ngl`). */
  gpuLayers: number;
  /** Layers (from the first) whose routed experts stay in host RAM (llama.cpp `--n-cpu-moe`). */
  cpuMoeLayers: number;
}

/** How a model is served, for `ps`, the console, the ledger and `/metrics`. */
export interface EngineDetails {
  kind: EngineKind;
  /** Where the weights sit. */
  placement: PlacementInfo;
  /** The worker process (`llama-server` only). */
  worker?: WorkerInfo;
  /** The upstreams of the model's pool (`upstream` only). */
  upstreams?: UpstreamInfo[];
}

/**
 * A model that can generate. Implemented by the embedded llama.cpp engine (`src/engines/inproc/`), by the managed
 * llama-server worker (`src/engines/llama-server/`) and by a pool of remote upstreams (`src/engines/upstream/`).
 */
export interface ModelBackend {
  /** Facts about the model. */
  readonly info: ModelInfo;
  /** Which engine serves it, and how (read on each call: a worker's pid changes when it restarts). */
  engine(): EngineDetails;
  /**
   * The engine's own Prometheus metrics text (a worker's `/metrics`), for moestro's `/metrics`; `undefined` when the
   * engine has none or it cannot be read now. Never throws.
   */
  scrapeMetrics?(): Promise<string | undefined>;
  /**
   * Memory counted in the scheduler's estimate at load that the backend has freed since, bytes (a llama-server worker
   * that backed off its draft model); the scheduler counts the estimate less this. Optional: absent means 0.
   */
  releasedMemoryBytes?(): number;
  /**
   * Admits a request: tokenizes the prompt, checks it against the context window and waits for a free sequence.
   * Resolves once a sequence is held, so that errors reach the client before any streamed byte.
   *
   * @throws {MoestroError} `context_length_exceeded` when the prompt (plus `maxTokens`) does not fit;
   *   `server_busy` when the wait queue is full.
   * @throws the signal's reason when `request.signal` aborts while waiting.
   */
  generate(request: GenerateRequest): Promise<GenerationStream>;
  /**
   * The tokens of the prompt `request` would run with (templated, tools and thinking included), without generating or
   * waiting for a sequence: what Anthropic's `count_tokens` answers. Optional: the API layer falls back to admitting a
   * generation and closing it.
   *
   * @throws {MoestroError} the 400s `generate` throws for the request (`context_length_exceeded` for a prompt that
   *   cannot fit).
   */
  countPromptTokens?(request: GenerateRequest): Promise<number>;
  /**
   * Optional, for backends that send the request to another server (upstream pools): what the request can be billed
   * for at most, known before anything is sent, so that its budget is reserved before it reaches a server that may bill
   * for it (docs/gateway.md, "Usage, budgets and the ledger"). `promptTokens` is the prompt's exact count where this
   * process can tokenize it for free (`exact`: a local member's tokenizer), else a bound that needs no tokenizer;
   * `contextTokens` is the context window a choice's completion is bounded by when the request sets no `maxTokens`.
   * A backend with it is admitted (its budget reserved) before `generate`; one without it after, with
   * `GenerationStream.promptTokens`. Never throws for the request's content (a count that fails gives the bound).
   */
  admissionBound?(request: GenerateRequest): Promise<AdmissionBound>;
  /** Live counters. */
  stats(): BackendStats;
  /**
   * Embeds each input (a text, or token ids), in input order.
   *
   * @throws {MoestroError} `invalid_request` (400) for an empty input, a token id outside the vocabulary, or an input
   *   longer than the embedding context.
   */
  embed(
    inputs: ReadonlyArray<string | readonly number[]>,
    options?: { signal?: AbortSignal },
  ): Promise<{ embeddings: Float32Array[]; promptTokens: number; engineTimeMs?: number }>;
  /** Stops all generations and frees the model. Calling it twice is harmless. */
  dispose(): Promise<void>;
}
