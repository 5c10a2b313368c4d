import path from "node:path";
import {
  resolveChatWrapper,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import type { Logger } from "pino";
import { MoestroError } from "../errors/index.js";
import type {
  BackendStats,
  FinishReason,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelInfo,
  SamplingOptions,
  StreamPart,
} from "../spec/index.js";
import { SlotPool } from "../util/slot-pool.js";
import { StopSequenceMatcher } from "../util/stop-sequence-matcher.js";
import { renderChatPrompt } from "./chat-prompt.js";
import { IncrementalDetokenizer } from "./incremental-detokenizer.js";

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
  /** Requests that may wait for a free sequence; one more is answered 503 `server_busy`. Defaults to 64. */
  maxQueuedRequests?: number;
  /** Where to log. */
  logger: Logger;
  /** Clock for `created` fields, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/** Default cap of the per-sequence context window when none is configured, in tokens. */
export const defaultMaxContextTokens = 4096;

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
  const { llama, modelPath, logger } = options;
  const now = options.now ?? Date.now;
  const model = await llama.loadModel({ modelPath });
  try {
    const trainContextTokens = model.trainContextSize;
    const contextSize = options.contextTokens ?? Math.min(trainContextTokens, defaultMaxContextTokens);
    const parallel = options.parallel ?? 4;
    const context = await model.createContext({
      contextSize,
      sequences: parallel,
      threads: options.threads,
      batchSize: Math.min(options.batchSize ?? 512, contextSize),
    });
    return new LlamaBackend(model, context, options, now);
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

/** The id a model file is served under: its file name without `.gguf`. */
export function modelIdFromPath(modelPath: string): string {
  return path.basename(modelPath).replace(/\.gguf$/i, "");
}

class LlamaBackend implements ModelBackend {
  readonly info: ModelInfo;
  readonly #model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #chatWrapper: ChatWrapper;
  readonly #pool: SlotPool<LlamaContextSequence>;
  readonly #canReusePrefix: boolean;
  readonly #logger: Logger;
  #activeGenerations = 0;
  #generatedTokensTotal = 0;
  #disposed = false;

  constructor(model: LlamaModel, context: LlamaContext, options: LlamaBackendOptions, now: () => number) {
    this.#model = model;
    this.#context = context;
    this.#logger = options.logger;
    const sequences = Array.from({ length: context.totalSequences }, () => context.getSequence());
    this.#pool = new SlotPool(sequences, { maxWaiting: options.maxQueuedRequests ?? 64 });
    this.#chatWrapper = resolveChatWrapper(model);
    const insights = model.fileInsights;
    this.#canReusePrefix = !insights.isRecurrent && !insights.isHybrid;
    const hasChatTemplate = typeof model.fileInfo.metadata.tokenizer?.chat_template === "string";
    this.info = {
      id: options.id ?? modelIdFromPath(options.modelPath),
      path: options.modelPath,
      architecture: String(model.fileInfo.metadata.general.architecture),
      contextTokens: sequences[0]?.contextSize ?? context.contextSize,
      parallelSequences: sequences.length,
      chatWrapperName: this.#chatWrapper.wrapperName,
      hasChatTemplate,
      createdAtSeconds: Math.floor(now() / 1000),
    };
    if (!hasChatTemplate) {
      this.#logger.warn(
        { model: this.info.id, chatWrapper: this.info.chatWrapperName },
        "the model has no chat template (tokenizer.chat_template); chat requests use node-llama-cpp's fallback format, which the model may not have been trained on",
      );
    }
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
    if (this.#disposed) throw new MoestroError("server_unavailable", "The model is being unloaded.", { retryAfterSeconds: 1 });
    const prompt = this.#renderPrompt(request);
    this.#checkContextWindow(prompt.tokens.length, request);
    const sequence = await this.#pool.acquire(request.signal);
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
    const parts = this.#run(sequence, prompt, request, release);
    return {
      promptTokens: prompt.tokens.length,
      [Symbol.asyncIterator]: () => parts,
      close: async () => {
        await parts.return(undefined);
        release();
      },
    };
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pool.rejectAll(new MoestroError("server_unavailable", "The model is being unloaded.", { retryAfterSeconds: 1 }));
    await this.#context.dispose();
    await this.#model.dispose();
  }

  #renderPrompt(request: GenerateRequest): { tokens: Token[]; stopTokens: Set<Token>; stopTexts: string[] } {
    const { input } = request;
    switch (input.kind) {
      case "chat":
        return renderChatPrompt(this.#model, this.#chatWrapper, input.messages);
      case "completion": {
        const bos = this.#model.tokens.bos;
        const tokens = this.#model.tokenize(input.prompt, true);
        if (this.#model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
        if (tokens.length === 0) throw new MoestroError("invalid_request", "The prompt is empty.", { param: "prompt" });
        return { tokens, stopTokens: new Set(), stopTexts: [] };
      }
      default:
        return input satisfies never;
    }
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
    prompt: { tokens: Token[]; stopTokens: Set<Token>; stopTexts: string[] },
    request: GenerateRequest,
    release: () => void,
  ): AsyncGenerator<StreamPart, void, undefined> {
    this.#activeGenerations++;
    try {
      const { signal } = request;
      const maxTokens = request.maxTokens ?? this.info.contextTokens - prompt.tokens.length;
      const cachedPromptTokens = await this.#reusePrefix(sequence, prompt.tokens);
      const generated: Token[] = [];
      const detokenizer = new IncrementalDetokenizer(this.#model, prompt.tokens);
      const matcher = new StopSequenceMatcher([...request.stop, ...prompt.stopTexts]);
      let finishReason: FinishReason = "stop";
      let completionTokens = 0;
      let stoppedBySequence = false;

      if (!signal?.aborted) {
        const tokens = sequence.evaluate(
          prompt.tokens.slice(cachedPromptTokens),
          toEvaluateOptions(request.sampling, generated),
        );
        for await (const token of tokens) {
          if (signal?.aborted) break;
          if (this.#model.isEogToken(token) || prompt.stopTokens.has(token)) break;
          generated.push(token);
          completionTokens++;
          this.#generatedTokensTotal++;
          const { text, stopped } = matcher.push(detokenizer.push(token));
          if (text.length > 0) yield { type: "text-delta", text };
          if (stopped) {
            stoppedBySequence = true;
            break;
          }
          if (completionTokens >= maxTokens) {
            finishReason = "length";
            break;
          }
        }
      }
      if (signal?.aborted) finishReason = "abort";
      else if (!stoppedBySequence) {
        const { text, stopped } = matcher.push(detokenizer.flush());
        const rest = stopped ? text : text + matcher.flush();
        if (rest.length > 0) yield { type: "text-delta", text: rest };
        if (stopped) finishReason = "stop";
      }
      yield {
        type: "finish",
        finishReason,
        usage: { promptTokens: prompt.tokens.length, completionTokens, cachedPromptTokens },
      };
    } finally {
      this.#activeGenerations--;
      release();
    }
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

/** Maps OpenAI-style sampling options to node-llama-cpp's, with OpenAI's defaults (temperature 1, no top-k). */
function toEvaluateOptions(sampling: SamplingOptions, generated: readonly Token[]): SequenceEvaluateOptions {
  const presencePenalty = sampling.presencePenalty ?? 0;
  const frequencyPenalty = sampling.frequencyPenalty ?? 0;
  return {
    temperature: sampling.temperature ?? 1,
    topP: sampling.topP ?? 1,
    // node-llama-cpp applies llama.cpp's top-k of 40 unless told otherwise; OpenAI samples from the whole vocabulary.
    topK: sampling.topK ?? 0,
    minP: sampling.minP ?? 0,
    seed: sampling.seed,
    repeatPenalty:
      presencePenalty === 0 && frequencyPenalty === 0
        ? undefined
        : { punishTokens: () => generated.slice(-64), penalty: 1, presencePenalty, frequencyPenalty },
  };
}
