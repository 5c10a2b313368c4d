import path from "node:path";
import {
  QwenChatWrapper,
  resolveChatWrapper,
  TokenBias,
  type BatchItem,
  type ChatWrapper,
  type EvaluationPriority,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  LlamaGrammarEvaluationState,
  type LlamaModel,
  type PrioritizedBatchItem,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import type { Logger } from "pino";
import { MoestroError } from "../../errors/index.js";
import type {
  BackendStats,
  FinishReason,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelInfo,
  SamplingOptions,
  StreamPart,
  TokenLogprob,
  ToolDefinition,
} from "../../spec/index.js";
import { createRandomId } from "../../util/random-id.js";
import { SlotPool } from "../../util/slot-pool.js";
import { renderChatPrompt } from "./chat-prompt.js";
import { IncrementalDetokenizer } from "./incremental-detokenizer.js";
import { prepareSchemaForGrammar } from "./json-schema-support.js";
import { createToolCallXmlGrammar } from "./tool-call-grammar.js";
import { OutputParser, type MarkerTokens, type OutputMode } from "./output-parser.js";
import { createRandom, sampleToken } from "./sampling.js";
import { createTokenBytes } from "./token-bytes.js";

/** Options of {@link createLlamaBackend}. */
export interface LlamaBackendOptions {
  /** The llama.cpp binding, from `getLlama({maxThreads})`; shared by every model of the process. */
  llama: Llama;
  /** Path of the GGUF file. */
  modelPath: string;
  /** The id clients send as `model`. Defaults to the file name without `.gguf`. */
  id?: string;
  /** Context window of each sequence, in tokens. Defaults to the model's training context, capped at 4096. */
  contextTokens?: number;
  /** Sequences that decode in parallel (continuous batching slots). The KV cache holds `contextTokens x parallel` tokens. Defaults to 4. */
  parallel?: number;
  /** CPU threads for prefill and decode. Never more than the cores available; node-llama-cpp's own default (4) collapses decode on 2 cores. */
  threads: number;
  /** Tokens per evaluation batch. With a 151k vocabulary this drives RAM (logits buffer): about 300 MiB at 512, 40 MiB at 64. Defaults to 512. */
  batchSize?: number;
  /** Flash attention in llama.cpp's attention (llama-server's default on CPU too). Defaults to true. */
  flashAttention?: boolean;
  /** Requests that may wait for a free sequence; one more is answered 503 `server_busy`. Defaults to 64. */
  maxQueuedRequests?: number;
  /** Whether the model thinks when a request does not say (models with `<think>` tokens only). Defaults to true, as Qwen3 templates do. */
  thinkingByDefault?: boolean;
  /**
   * Test hook: when it returns a text for a request, the model's output is that text, tokenized with special tokens and
   * fed through the real output parser (thoughts, tool calls, stop sequences, counting) instead of being sampled.
   * Lets tests of random-weight models assert on what a real model would write. Defaults to none.
   */
  scriptedOutput?: (request: GenerateRequest) => string | undefined;
  /** Where to log. */
  logger: Logger;
  /** Clock for `created` fields, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/** Default cap of the per-sequence context window when none is configured, in tokens. */
export const defaultMaxContextTokens = 4096;

/** The logprob reported for a token whose probability is 0 (OpenAI reports -9999.0 for such tokens). */
const minimumLogprob = -9999;

/**
 * Loads a GGUF model with node-llama-cpp and serves generations from it with continuous batching: one llama.cpp context
 * holds `parallel` sequences, each request holds one sequence while it runs, and node-llama-cpp decodes the running
 * sequences together in one batch per step. Requests beyond `parallel` wait in a bounded FIFO queue.
 *
 * Each sequence keeps its KV cache between requests; a new request reuses the longest prefix it shares with what the
 * sequence last held (prefix reuse), except on recurrent and hybrid models, whose state cannot be rolled back in part.
 *
 * @throws when the file cannot be read or loaded by llama.cpp (the error of node-llama-cpp, unchanged).
 * @example
 * const llama = await getLlama({gpu: false, build: "never", maxThreads: 2});
 * const backend = await createLlamaBackend({llama, modelPath: "stories260K.gguf", threads: 2, logger});
 * for await (const part of await backend.generate({input: {kind: "completion", prompt: "Once"}, sampling: {}, stop: []})) { ... }
 */
export async function createLlamaBackend(options: LlamaBackendOptions): Promise<ModelBackend> {
  const { llama, modelPath } = options;
  const now = options.now ?? Date.now;
  const model = await llama.loadModel({ modelPath });
  try {
    const contextSize = options.contextTokens ?? Math.min(model.trainContextSize, defaultMaxContextTokens);
    const batching = new DecodeBatching();
    const context = await model.createContext({
      contextSize,
      sequences: options.parallel ?? 4,
      threads: options.threads,
      batchSize: Math.min(options.batchSize ?? 512, contextSize),
      flashAttention: options.flashAttention ?? true,
      batching: { dispatchSchedule: (dispatch) => batching.schedule(dispatch), itemPrioritizationStrategy: inSequenceOrder },
    });
    return new LlamaBackend(model, context, options, now, batching);
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

/**
 * Gathers the running sequences' next tokens into one decode batch (continuous batching).
 *
 * node-llama-cpp decodes whatever is queued when a dispatch runs, and the dispatch loop that holds the context also
 * takes, right after each batch, whatever was queued meanwhile. The sequences of one batch get their tokens together
 * (their sampling runs inside the dispatch), but each then spends some JavaScript (parsing, encoding a chunk) before
 * asking for its next token, so the fastest one used to be decoded alone and the batch split into batches of one or
 * two. Measured on the 735M-parameter random Qwen3-MoE of ENGINE-NOTES, 4 sequences, 32 requests: of 636 decode
 * batches none held 4 tokens (243 held 1, 311 held 2, 82 held 3). With the barrier, 4 requests at a time of 32
 * tokens: 120 of 128 decode batches held 4; of 16 to 48 tokens: 238 of 405 held 4 (the rest as requests end), new
 * prompts went into 42 batches beside decode tokens, and llama.cpp was busy 98.8% of the time.
 *
 * So each generation passes a barrier ({@link DecodeBatching.turn}) before it asks for its next token. The barrier
 * opens when every decoding generation has reached it. It waits without limit while one of them has a decode running
 * (it comes back when its decode ends, and from then on they run in step), and then at most `maxWaitMs` for those
 * busy in JavaScript. A generation whose prompt is being evaluated (a prefill, possibly many batches long) is not
 * waited for, so that a long prompt never stalls the others' decoding; it joins the decode batches once its prompt is
 * in. The dispatch then runs after the event loop's current turn, when every released generation has queued its decode.
 * A single generation passes at once and its decode is dispatched at once: nothing to wait for.
 */
export class DecodeBatching {
  /** Generations between {@link join} and {@link leave}. */
  #running = 0;
  /** Of those, the ones whose prompt is being evaluated. */
  #prefilling = 0;
  /** Of those, the ones whose one-token decode step is running. */
  #decoding = 0;
  /** Generations waiting at the barrier. */
  #waiting: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #maxWaitMs: number;

  /** @param maxWaitMs the longest the barrier waits for a generation that is busy in JavaScript, ms. Defaults to 5. */
  constructor(maxWaitMs = 5) {
    this.#maxWaitMs = maxWaitMs;
  }

  /** A generation starts decoding. */
  join(): void {
    this.#running++;
  }

  /** A generation stops decoding (finished, aborted, or between evaluations); the barrier opens if it waited only for it. */
  leave(): void {
    this.#running--;
    this.#check();
  }

  /** Resolves when every decoding generation has reached the barrier (see the class); at once when alone. */
  async turn(): Promise<void> {
    if (this.#participants() <= 1) return;
    await new Promise<void>((resolve) => {
      this.#waiting.push(resolve);
      this.#check();
    });
  }

  /** Brackets one evaluation step after {@link turn}: `prefill` when it evaluates more than one token (a prompt). */
  async step<Result>(prefill: boolean, evaluate: () => Promise<Result>): Promise<Result> {
    if (prefill) this.#prefilling++;
    else this.#decoding++;
    try {
      return await evaluate();
    } finally {
      if (prefill) this.#prefilling--;
      else this.#decoding--;
      // Others may wait for this one: now it is busy in JavaScript (bounded wait), or it joins them after its prompt.
      this.#check();
    }
  }

  /**
   * node-llama-cpp's `dispatchSchedule`. Alone, a generation's decode is dispatched at once, so that it runs on llama.cpp's
   * thread while JavaScript encodes the previous token. Otherwise the dispatch waits for the event loop's next turn, by
   * when every generation released by the barrier has queued its decode (they do so in microtasks).
   */
  schedule(dispatch: () => void): void {
    if (this.#running <= 1) dispatch();
    else setImmediate(dispatch);
  }

  /** Generations the barrier waits for: the running ones, except those evaluating a prompt. */
  #participants(): number {
    return this.#running - this.#prefilling;
  }

  /** Opens the barrier when nobody else is expected; otherwise arms the `maxWaitMs` timer, unless a decode runs. */
  #check(): void {
    const waiting = this.#waiting.length;
    if (waiting === 0) return;
    const participants = this.#participants();
    if (waiting >= participants) {
      this.#open();
      return;
    }
    if (this.#decoding === 0) {
      // Nobody it waits for is decoding: the missing ones are busy in JavaScript.
      this.#timer ??= setTimeout(() => this.#open(), this.#maxWaitMs);
      return;
    }
    // A decode is running: wait for it, whoever else is late. Opened under a running decode (by a timer armed while
    // someone was busy in JavaScript), the barrier let the waiting generations queue their tokens during that batch, and
    // node-llama-cpp's dispatch loop, which decodes whatever is queued when a batch ends, then alternated between two
    // groups of sequences for the rest of their requests (batches of 1 and 2, or 2 and 2, instead of 4 on the test MoE),
    // and a new request, which needs the context's lock to align its KV cache, waited until they all ended. In-process
    // at concurrency 4 on that model, time to first token p50 went from 263-281 ms to 117-160 ms with this rule.
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #open(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}

/**
 * node-llama-cpp's batch item strategy: the items in the order of their sequences, then its `maximumParallelism` split
 * of the batch (an equal share of the batch per item, the rest to the items that need more, in order).
 *
 * The order matters for correctness, not only speed: llama.cpp (commit 80fb11a, inside node-llama-cpp 3.21.1) keeps a
 * KV stream per sequence and splits a batch by sequence, and when the sequences of consecutive batches come in a
 * different order, some outputs come back wrong. Measured with raw node-llama-cpp on stories260K, 4 sequences decoding
 * in step with prefix reuse: in a random order per batch, 3 to 12 of 60 rounds gave a greedy text that differs from
 * the same prompt decoded alone (a token at probability 0.98 replaced by one outside the top 3); in sequence order, 1
 * of 180. Through this backend, 7 of 40 rounds before this strategy, 0 of 230 with it.
 * A generation tags its evaluations with its sequence's index as `evaluationPriority`; this sorts on it.
 */
export function inSequenceOrder({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] {
  const ordered = [...items].sort((a, b) => a.evaluationPriority - b.evaluationPriority);
  let free = size;
  const share = Math.max(1, Math.floor(size / Math.max(1, ordered.length)));
  const result: PrioritizedBatchItem[] = [];
  for (const item of ordered) {
    if (free <= 0) break;
    const processAmount = Math.min(item.tokens.length, share, free);
    result.push({ item, processAmount });
    free -= processAmount;
  }
  for (const entry of result) {
    if (free <= 0) break;
    const more = Math.min(entry.item.tokens.length - entry.processAmount, free);
    entry.processAmount += more;
    free -= more;
  }
  return result;
}

/** The id a model file is served under: its file name without `.gguf`. */
export function modelIdFromPath(modelPath: string): string {
  return path.basename(modelPath).replace(/\.gguf$/i, "");
}

/** Everything decided about a request before it holds a sequence. */
interface PreparedGeneration {
  promptTokens: Token[];
  /** Output tokens forced before sampling starts (an opened tool call for a forced `tool_choice`). */
  forcedOutputTokens: Token[];
  stopTokens: Set<Token>;
  stopTexts: string[];
  startsInReasoning: boolean;
  startsAfterThought: boolean;
  thinkingBudgetTokens?: number;
  tools?: ToolDefinition[];
  stopAfterFirstToolCall: boolean;
  contentGrammar?: LlamaGrammar;
  toolGrammar?: LlamaGrammar;
  tokenBias?: TokenBias;
  validateAnswer?: (text: string) => void;
}

class LlamaBackend implements ModelBackend {
  readonly info: ModelInfo;
  readonly #model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #options: LlamaBackendOptions;
  readonly #chatWrapper: ChatWrapper;
  /** The same template with an empty thought pre-filled (`<think>\n\n</think>\n\n`): thinking off. */
  readonly #noThinkingChatWrapper: ChatWrapper | undefined;
  readonly #markers: MarkerTokens;
  readonly #pool: SlotPool<LlamaContextSequence>;
  readonly #canReusePrefix: boolean;
  readonly #logger: Logger;
  readonly #tokenBytes: (token: Token) => number[];
  readonly #grammars = new Map<string, Promise<LlamaGrammar>>();
  readonly #toolCallFormat: "json" | "xml";
  #embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  #embeddingQueue: Promise<unknown> = Promise.resolve();
  #activeGenerations = 0;
  #generatedTokensTotal = 0;
  #disposed = false;

  readonly #batching: DecodeBatching;
  /** Each sequence's index, in creation order (see `inSequenceOrder`). */
  readonly #sequenceIndex: Map<LlamaContextSequence, number>;
  /** Token sequences every generation needs, tokenized once: `\n`, `\n</think>\n\n`, `\n</tool_call>`. */
  readonly #newlineTokens: Token[];
  readonly #closeThoughtTokens: Token[];
  readonly #closeToolCallTokens: Token[];

  constructor(model: LlamaModel, context: LlamaContext, options: LlamaBackendOptions, now: () => number, batching: DecodeBatching) {
    this.#batching = batching;
    this.#model = model;
    this.#context = context;
    this.#options = options;
    this.#logger = options.logger;
    const sequences = Array.from({ length: context.totalSequences }, () => context.getSequence());
    this.#sequenceIndex = new Map(sequences.map((sequence, index) => [sequence, index]));
    this.#pool = new SlotPool(sequences, { maxWaiting: options.maxQueuedRequests ?? 64 });
    this.#chatWrapper = resolveChatWrapper(model);
    this.#noThinkingChatWrapper =
      this.#chatWrapper instanceof QwenChatWrapper
        ? new QwenChatWrapper({ variation: this.#chatWrapper.variation, thoughts: "discourage" })
        : undefined;
    this.#markers = {
      thinkStart: this.#singleToken("<think>"),
      thinkEnd: this.#singleToken("</think>"),
      toolCallStart: this.#singleToken("<tool_call>"),
      toolCallEnd: this.#singleToken("</tool_call>"),
    };
    this.#tokenBytes = createTokenBytes(model);
    this.#newlineTokens = model.tokenize("\n", true);
    const present = (tokens: Array<Token | undefined>): Token[] =>
      tokens.filter((token): token is Token => token !== undefined && token >= 0);
    this.#closeThoughtTokens = present([...this.#newlineTokens, this.#markers.thinkEnd, ...model.tokenize("\n\n", true)]);
    this.#closeToolCallTokens = present([...this.#newlineTokens, this.#markers.toolCallEnd]);
    const insights = model.fileInsights;
    this.#canReusePrefix = !insights.isRecurrent && !insights.isHybrid;
    const chatTemplate = model.fileInfo.metadata.tokenizer?.chat_template;
    const hasChatTemplate = typeof chatTemplate === "string";
    // Qwen3-Coder and Qwen3.5 templates teach the XML form of tool calls; Qwen3's the JSON form.
    this.#toolCallFormat = hasChatTemplate && chatTemplate.includes("<function=") ? "xml" : "json";
    const canThink = this.#markers.thinkStart !== undefined && this.#markers.thinkEnd !== undefined;
    this.info = {
      id: options.id ?? modelIdFromPath(options.modelPath),
      path: options.modelPath,
      architecture: String(model.fileInfo.metadata.general.architecture),
      contextTokens: sequences[0]?.contextSize ?? context.contextSize,
      parallelSequences: sequences.length,
      chatWrapperName: this.#chatWrapper.wrapperName,
      hasChatTemplate,
      canThink,
      thinksByDefault: canThink && (options.thinkingByDefault ?? true),
      canCallTools: this.#markers.toolCallStart !== undefined && this.#markers.toolCallEnd !== undefined,
      embeddingDimensions: model.embeddingVectorSize,
      vocabularySize: (model.fileInfo.metadata.tokenizer?.ggml?.tokens as unknown[] | undefined)?.length ?? 0,
      createdAtSeconds: Math.floor(now() / 1000),
    };
    if (!hasChatTemplate) {
      this.#logger.warn(
        { model: this.info.id, chatWrapper: this.info.chatWrapperName },
        "the model has no chat template (tokenizer.chat_template); chat requests use node-llama-cpp's fallback format, which the model may not have been trained on",
      );
    }
  }

  /** The id of `text` when the vocabulary has it as one special token. */
  #singleToken(text: string): Token | undefined {
    const tokens = this.#model.tokenize(text, true);
    if (tokens.length !== 1) return undefined;
    return this.#model.detokenize(tokens, true) === text ? tokens[0] : undefined;
  }

  stats(): BackendStats {
    return {
      sequencesInUse: this.#pool.inUse,
      queuedRequests: this.#pool.waiting,
      activeGenerations: this.#activeGenerations,
      generatedTokensTotal: this.#generatedTokensTotal,
    };
  }

  async generate(request: GenerateRequest): Promise<GenerationStream> {
    this.#ensureNotDisposed();
    const prepared = await this.#prepare(request);
    this.#checkContextWindow(prepared.promptTokens.length, request);
    const promptTokens = prepared.promptTokens;
    const sequence = await this.#pool.acquire(
      request.signal,
      this.#canReusePrefix ? (candidate) => candidate.compareContextTokens(promptTokens).firstDifferentIndex : undefined,
    );
    if (sequence === undefined) {
      throw new MoestroError(
        "server_busy",
        `The server is busy: ${this.info.parallelSequences} requests are running and ${this.#pool.waiting} are waiting for model '${this.info.id}'. Retry later.`,
        { retryAfterSeconds: 1 },
      );
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#pool.release(sequence);
    };
    const parts = this.#run(sequence, prepared, request, release);
    return {
      promptTokens: prepared.promptTokens.length,
      [Symbol.asyncIterator]: () => parts,
      close: async () => {
        await parts.return(undefined);
        release();
      },
    };
  }

  async embed(
    inputs: ReadonlyArray<string | readonly number[]>,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ embeddings: Float32Array[]; promptTokens: number }> {
    this.#ensureNotDisposed();
    const vocabularySize = this.info.vocabularySize;
    const tokenized = inputs.map((input, index) => {
      const tokens = typeof input === "string" ? this.#model.tokenize(input, false) : [...input];
      if (tokens.length === 0) throw new MoestroError("invalid_request", `input[${index}] is empty.`, { param: "input" });
      for (const token of tokens) {
        if (!Number.isInteger(token) || token < 0 || (vocabularySize > 0 && token >= vocabularySize)) {
          throw new MoestroError(
            "invalid_request",
            `input[${index}] holds the token id ${token}, outside the vocabulary of ${vocabularySize} tokens.`,
            { param: "input" },
          );
        }
      }
      return tokens as Token[];
    });
    this.#embeddingContext ??= this.#model.createEmbeddingContext({
      contextSize: this.info.contextTokens,
      threads: this.#options.threads,
      batchSize: this.info.contextTokens,
    });
    const context = await this.#embeddingContext;
    for (const [index, tokens] of tokenized.entries()) {
      if (tokens.length > this.info.contextTokens) {
        throw new MoestroError(
          "invalid_request",
          `input[${index}] has ${tokens.length} tokens; this model embeds at most ${this.info.contextTokens}.`,
          { param: "input" },
        );
      }
    }
    // One embedding context serves the model: requests take turns.
    const run = this.#embeddingQueue.then(async () => {
      const embeddings: Float32Array[] = [];
      for (const tokens of tokenized) {
        options.signal?.throwIfAborted();
        const embedding = await context.getEmbeddingFor(tokens);
        embeddings.push(Float32Array.from(embedding.vector));
      }
      return embeddings;
    });
    this.#embeddingQueue = run.catch(() => undefined);
    return { embeddings: await run, promptTokens: tokenized.reduce((total, tokens) => total + tokens.length, 0) };
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pool.rejectAll(new MoestroError("server_unavailable", "The model is being unloaded.", { retryAfterSeconds: 1 }));
    if (this.#embeddingContext) await (await this.#embeddingContext).dispose();
    await this.#context.dispose();
    await this.#model.dispose();
  }

  #ensureNotDisposed(): void {
    if (this.#disposed) throw new MoestroError("server_unavailable", "The model is being unloaded.", { retryAfterSeconds: 1 });
  }

  /** Renders the prompt and decides thinking, tools, grammars and forced tokens. */
  async #prepare(request: GenerateRequest): Promise<PreparedGeneration> {
    const { input } = request;
    if (input.kind === "completion") {
      const bos = this.#model.tokens.bos;
      const tokens = this.#model.tokenize(input.prompt, true);
      if (this.#model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
      if (tokens.length === 0) throw new MoestroError("invalid_request", "The prompt is empty.", { param: "prompt" });
      return {
        promptTokens: tokens,
        forcedOutputTokens: [],
        stopTokens: new Set(),
        stopTexts: [],
        startsInReasoning: false,
        startsAfterThought: false,
        stopAfterFirstToolCall: false,
      };
    }

    const markers = this.#markers;
    const tools = request.tools;
    const choice = tools?.choice ?? { type: "auto" };
    const forcedTool = choice.type === "required" || choice.type === "function";
    if (tools && tools.definitions.length > 0 && choice.type !== "none" && !this.info.canCallTools) {
      throw new MoestroError(
        "unsupported_parameter",
        `The model '${this.info.id}' has no tool-call tokens (<tool_call>), so tools cannot be enforced.`,
        { param: "tools" },
      );
    }
    if (choice.type === "function" && !tools?.definitions.some((tool) => tool.name === choice.name)) {
      throw new MoestroError("invalid_request", `tool_choice names the function '${choice.name}', which is not in tools.`, {
        param: "tool_choice",
      });
    }
    const activeTools = tools && choice.type !== "none" && tools.definitions.length > 0 ? tools.definitions : undefined;

    // Thinking: on by the model's default, off for structured output and forced tool calls unless asked for
    // (../shared/ENGINE-NOTES.md: a grammar with forced thinking puts the JSON inside the thought).
    const budget = request.thinking?.budgetTokens;
    let thinking =
      this.info.canThink &&
      (request.thinking?.enabled ?? (request.responseFormat === undefined && !forcedTool && this.info.thinksByDefault));
    if (budget === 0) thinking = false;
    const chatWrapper = !thinking && this.info.canThink && this.#noThinkingChatWrapper ? this.#noThinkingChatWrapper : this.#chatWrapper;
    const rendered = renderChatPrompt(this.#model, chatWrapper, input.messages, activeTools);
    const promptTokens = rendered.tokens;
    if (thinking) promptTokens.push(markers.thinkStart!, ...this.#model.tokenize("\n", false));

    const prepared: PreparedGeneration = {
      promptTokens,
      forcedOutputTokens: [],
      stopTokens: rendered.stopTokens,
      stopTexts: rendered.stopTexts,
      startsInReasoning: thinking,
      startsAfterThought: !thinking && this.info.canThink && chatWrapper === this.#noThinkingChatWrapper,
      thinkingBudgetTokens: thinking ? budget : undefined,
      tools: activeTools,
      stopAfterFirstToolCall: forcedTool || tools?.parallel === false,
    };
    if (activeTools) {
      const callable = choice.type === "function" ? activeTools.filter((tool) => tool.name === choice.name) : activeTools;
      prepared.toolGrammar = await this.#toolCallGrammar(callable);
      if (forcedTool && !thinking) prepared.forcedOutputTokens = [markers.toolCallStart!];
    }
    if (choice.type === "none" && markers.toolCallStart !== undefined) {
      prepared.tokenBias = TokenBias.for(this.#model).set(markers.toolCallStart, "never");
    }
    if (request.responseFormat) {
      const format = request.responseFormat;
      prepared.contentGrammar =
        format.type === "json_object"
          ? await this.#cachedGrammar("json", () => this.#options.llama.getGrammarFor("json"))
          : await this.#schemaGrammar(format.schema, "response_format");
    }
    return prepared;
  }

  /**
   * The grammar of a tool call's body, in the form the model's template teaches: JSON, `{"name": …, "arguments": {…}}`,
   * or Qwen3.5's XML form; one branch per callable tool so that the arguments follow that tool's schema.
   */
  async #toolCallGrammar(tools: readonly ToolDefinition[]): Promise<LlamaGrammar> {
    for (const [index, tool] of tools.entries()) {
      prepareSchemaForGrammar(tool.parameters ?? { type: "object", properties: {} }, `tools[${index}].function.parameters`);
    }
    if (this.#toolCallFormat === "xml") {
      const grammar = createToolCallXmlGrammar(tools);
      return await this.#cachedGrammar(grammar, async () => await this.#options.llama.createGrammar({ grammar }));
    }
    const branches = tools.map((tool, index) => ({
      type: "object",
      properties: {
        name: { const: tool.name },
        arguments: prepareSchemaForGrammar(tool.parameters ?? { type: "object", properties: {} }, `tools[${index}].function.parameters`),
      },
    }));
    const schema = branches.length === 1 ? branches[0]! : { oneOf: branches };
    return await this.#schemaGrammar(schema, "tools", true);
  }

  async #schemaGrammar(schema: Record<string, unknown>, param: string, prepared = false): Promise<LlamaGrammar> {
    const grammarSchema = prepared ? schema : prepareSchemaForGrammar(schema, param);
    return await this.#cachedGrammar(JSON.stringify(grammarSchema), async () => {
      try {
        return await this.#options.llama.createGrammarForJsonSchema(grammarSchema as never);
      } catch (error) {
        throw new MoestroError(
          "unsupported_parameter",
          `The JSON schema in '${param}' cannot be turned into a grammar: ${(error as Error).message}`,
          { param, cause: error },
        );
      }
    });
  }

  async #cachedGrammar(key: string, create: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    let grammar = this.#grammars.get(key);
    if (grammar === undefined) {
      grammar = create();
      this.#grammars.set(key, grammar);
      grammar.catch(() => this.#grammars.delete(key));
      if (this.#grammars.size > 64) this.#grammars.delete(this.#grammars.keys().next().value!);
    }
    return await grammar;
  }

  /** Refuses a request that does not fit, with the real numbers (never truncating the prompt silently). */
  #checkContextWindow(promptTokens: number, request: GenerateRequest): void {
    const window = this.info.contextTokens;
    const param = request.input.kind === "chat" ? "messages" : "prompt";
    if (request.maxTokens !== undefined && promptTokens + request.maxTokens > window) {
      throw new MoestroError(
        "context_length_exceeded",
        `This model's maximum context length is ${window} tokens. However, you requested ${promptTokens + request.maxTokens} tokens ` +
          `(${promptTokens} in the prompt, ${request.maxTokens} for the completion). Please reduce the prompt or max_tokens.`,
        { param },
      );
    }
    if (promptTokens >= window) {
      throw new MoestroError(
        "context_length_exceeded",
        `This model's maximum context length is ${window} tokens. However, the prompt has ${promptTokens} tokens, ` +
          `which leaves no room for a completion. Please reduce the prompt.`,
        { param },
      );
    }
  }

  async *#run(
    sequence: LlamaContextSequence,
    prepared: PreparedGeneration,
    request: GenerateRequest,
    release: () => void,
  ): AsyncGenerator<StreamPart, void, undefined> {
    this.#activeGenerations++;
    try {
      const { signal } = request;
      const model = this.#model;
      const promptTokens = prepared.promptTokens;
      const maxTokens = request.maxTokens ?? this.info.contextTokens - promptTokens.length;
      const tokenize = (text: string): Token[] => model.tokenize(text, true);
      const parser = new OutputParser({
        decoder: new IncrementalDetokenizer(model, promptTokens),
        markers: this.#markers,
        stop: [...request.stop, ...prepared.stopTexts],
        startsInReasoning: prepared.startsInReasoning,
        startsAfterThought: prepared.startsAfterThought,
        thinkingBudgetTokens: prepared.thinkingBudgetTokens,
        closeThoughtTokens: this.#closeThoughtTokens,
        closeToolCallTokens: this.#closeToolCallTokens,
        tools: prepared.tools,
        stopAfterFirstToolCall: prepared.stopAfterFirstToolCall,
        answerIsJson: prepared.contentGrammar !== undefined,
        createToolCallId: () => createRandomId("call_"),
        onMalformedToolCall: (text) =>
          this.#logger.warn({ model: this.info.id, text: text.slice(0, 200) }, "a tool-call block could not be parsed; returned as text"),
      });
      const cachedPromptTokens = await this.#reusePrefix(sequence, promptTokens);
      const contentGrammarState = prepared.contentGrammar
        ? new LlamaGrammarEvaluationState({ model, grammar: prepared.contentGrammar })
        : undefined;
      let toolGrammarState: LlamaGrammarEvaluationState | undefined;
      let toolGrammarFor = -1;
      let toolCallsStarted = 0;
      const grammarState = (): LlamaGrammarEvaluationState | undefined => {
        if (parser.mode === "content") return contentGrammarState;
        if (parser.mode === "tool" && prepared.toolGrammar) {
          // A fresh grammar state per tool call; it starts after the "\n" that follows <tool_call>.
          if (toolGrammarFor !== toolCallsStarted) {
            toolGrammarFor = toolCallsStarted;
            toolGrammarState = new LlamaGrammarEvaluationState({ model, grammar: prepared.toolGrammar });
          }
          return toolGrammarState;
        }
        return undefined;
      };
      const evaluateOptions: SequenceEvaluateOptions = {
        ...toEvaluateOptions(request.sampling, () => sequence.contextTokens.slice(-64)),
        // Not a priority: the sequence's index, by which `inSequenceOrder` orders each batch.
        evaluationPriority: this.#sequenceIndex.get(sequence) as EvaluationPriority,
        grammarEvaluationState: grammarState,
        tokenBias: prepared.tokenBias,
      };
      const random = createRandom(request.sampling.seed);
      const newline = this.#newlineTokens;

      const script = this.#options.scriptedOutput?.(request);
      const scriptTokens = script === undefined ? undefined : tokenize(script);
      let input = promptTokens.slice(cachedPromptTokens);
      const pending: Token[] = scriptTokens === undefined ? [...prepared.forcedOutputTokens] : [];
      let finishReason: FinishReason | undefined;

      /** Feeds one token to the parser; returns the parts and whether generation must stop, or what to inject. */
      const feed = (token: Token, logprob?: TokenLogprob) => {
        const wasTool = parser.mode === "tool";
        const { parts, action } = parser.push(token, logprob);
        if (!wasTool && (parser.mode as OutputMode) === "tool") {
          toolCallsStarted++;
          // The JSON body starts on the next line: put the newline in before the grammar takes over.
          if (prepared.toolGrammar && scriptTokens === undefined) pending.push(...newline);
        }
        // A script is the whole output, injections included, so nothing is injected into it.
        if (action.type === "inject" && scriptTokens === undefined) pending.push(...action.tokens);
        let stop: FinishReason | undefined = action.type === "stop" ? action.finishReason : undefined;
        if (stop === undefined && parser.completionTokens >= maxTokens) stop = "length";
        return { parts, stop };
      };

      generation: while (finishReason === undefined) {
        while (pending.length > 0) {
          if (signal?.aborted) break generation;
          const token = pending.shift()!;
          input.push(token);
          const { parts, stop } = feed(token);
          yield* parts;
          if (stop) {
            finishReason = stop;
            break generation;
          }
        }
        if (scriptTokens !== undefined) {
          const token = scriptTokens.shift();
          if (token === undefined || model.isEogToken(token) || prepared.stopTokens.has(token)) {
            finishReason = parser.naturalFinishReason;
            break;
          }
          this.#generatedTokensTotal++;
          const { parts, stop } = feed(token);
          yield* parts;
          finishReason = stop;
          continue;
        }
        let injected = false;
        const tokens = this.#sampledTokens(sequence, input, evaluateOptions, request, random);
        input = [];
        for await (const { token, logprob } of tokens) {
          if (signal?.aborted) break generation;
          if (model.isEogToken(token) || prepared.stopTokens.has(token)) break;
          this.#generatedTokensTotal++;
          const { parts, stop } = feed(token, logprob);
          yield* parts;
          if (stop) {
            finishReason = stop;
            break generation;
          }
          if (pending.length > 0) {
            // Tokens must go in (a closed thought, a tool call's end): the sampled token is not evaluated yet, so it leads.
            input = [token];
            injected = true;
            break;
          }
        }
        if (!injected) finishReason = parser.naturalFinishReason;
      }
      if (signal?.aborted) finishReason = "abort";
      else yield* parser.end();
      if (finishReason === "stop" && parser.toolCalls.length > 0) finishReason = "tool_calls";
      yield {
        type: "finish",
        finishReason: finishReason ?? "stop",
        usage: {
          promptTokens: promptTokens.length,
          completionTokens: parser.completionTokens,
          cachedPromptTokens,
          reasoningTokens: parser.reasoningTokens,
        },
      };
    } finally {
      this.#activeGenerations--;
      release();
    }
  }

  /**
   * Evaluates `input` and yields the tokens sampled after it, one per step. Without logprobs llama.cpp samples. With
   * logprobs the log-probabilities must describe the model's own distribution, so llama.cpp is asked for it unfiltered
   * (temperature 1, no top-k/top-p/min-p) and the token is sampled here with the request's options, then handed back
   * to the generator. Ending the iteration stops evaluation.
   */
  async *#sampledTokens(
    sequence: LlamaContextSequence,
    input: Token[],
    options: SequenceEvaluateOptions,
    request: GenerateRequest,
    random: () => number,
  ): AsyncGenerator<{ token: Token; logprob?: TokenLogprob }, void, undefined> {
    const top = request.logprobs?.top;
    const batching = this.#batching;
    batching.join();
    try {
      if (top === undefined) {
        const steps = sequence.evaluate(input, options);
        try {
          for (let prefill = input.length > 1; ; prefill = false) {
            // Every decoding generation asks for its next token at once (see DecodeBatching).
            await batching.turn();
            const step = await batching.step(prefill, () => steps.next());
            if (step.done) return;
            yield { token: step.value };
          }
        } finally {
          await steps.return(undefined);
        }
      }
      const steps = sequence.evaluateWithMetadata(
        input,
        { probabilities: true },
        { ...options, temperature: 1, topK: 0, topP: 1, minP: 0 },
      );
      try {
        await batching.turn();
        let step = await batching.step(input.length > 1, () => steps.next());
        while (!step.done) {
          const token = sampleToken(step.value.probabilities, request.sampling, random);
          yield { token, logprob: this.#toLogprob(token, step.value.probabilities, top) };
          await batching.turn();
          step = await batching.step(false, () => steps.next(token));
        }
      } finally {
        await steps.return();
      }
    } finally {
      batching.leave();
    }
  }

  #toLogprob(token: Token, probabilities: Map<Token, number>, top: number): TokenLogprob {
    const entry = (candidate: Token, probability: number | undefined) => ({
      token: this.#model.detokenize([candidate], true),
      logprob: probability !== undefined && probability > 0 ? Math.max(Math.log(probability), minimumLogprob) : minimumLogprob,
      bytes: this.#tokenBytes(candidate),
    });
    const alternatives: TokenLogprob["top"] = [];
    if (top > 0) {
      for (const [candidate, probability] of probabilities) {
        if (alternatives.length >= top) break;
        alternatives.push(entry(candidate, probability));
      }
    }
    return { ...entry(token, probabilities.get(token)), top: alternatives };
  }

  /**
   * Aligns the sequence's KV cache with the new prompt and returns how many prompt tokens are already evaluated.
   * At least the last prompt token is always evaluated again, because its logits are needed to sample the first token.
   */
  async #reusePrefix(sequence: LlamaContextSequence, promptTokens: Token[]): Promise<number> {
    if (!this.#canReusePrefix) {
      if (sequence.nextTokenIndex > 0) await sequence.clearHistory();
      return 0;
    }
    const { firstDifferentIndex } = sequence.compareContextTokens(promptTokens);
    const keep = Math.min(firstDifferentIndex, promptTokens.length - 1);
    if (keep < sequence.nextTokenIndex) {
      await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
    }
    return keep;
  }
}

/** The default top-k: 40, as llama.cpp's `common_params_sampling.top_k`, llama-server and Ollama. */
export const defaultTopK = 40;

/** Maps OpenAI-style sampling options to node-llama-cpp's: OpenAI's defaults (temperature 1, top-p 1), top-k 40. */
function toEvaluateOptions(sampling: SamplingOptions, recentTokens: () => Token[]): SequenceEvaluateOptions {
  const presencePenalty = sampling.presencePenalty ?? 0;
  const frequencyPenalty = sampling.frequencyPenalty ?? 0;
  return {
    temperature: sampling.temperature ?? 1,
    topP: sampling.topP ?? 1,
    // llama.cpp's, llama-server's and Ollama's default of 40. Sampling from the whole vocabulary (top_k 0, as OpenAI
    // does) costs a full softmax and sort per token: 20 ms per token on a 151,936-token Qwen vocabulary on this CPU,
    // against 1.4 ms with 40 (measured with node-llama-cpp 3.21.1, 1 thread).
    topK: sampling.topK ?? defaultTopK,
    minP: sampling.minP ?? 0,
    seed: sampling.seed,
    repeatPenalty:
      presencePenalty === 0 && frequencyPenalty === 0
        ? undefined
        : { punishTokens: recentTokens, penalty: 1, presencePenalty, frequencyPenalty },
  };
}
