import path from "node:path";
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import type { Logger } from "pino";
import type {
  BackendStats,
  EngineDetails,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelInfo,
  SpeculativeOptions,
} from "../../spec/index.js";
import { SlotPool } from "../../util/slot-pool.js";
import { ContextCachePins } from "../context-cache.js";
import { inSequenceOrder } from "./batch-order.js";
import { DecodeBatching } from "./decode-batching.js";
import { Embeddings } from "./embeddings.js";
import { createModelFrontend, type ModelFrontend } from "./model-frontend.js";
import { modelUnloadingError } from "./model-unloading-error.js";
import { defaultMinRestoreTokens, PrefixCache, type PrefixCacheStats } from "./prefix-cache.js";
import { sequenceTarget, type SequenceTargetShared } from "./sequence-target.js";
import { SharedPrefills, type SharedPrefillStats } from "./shared-prefill.js";
import { createSpeculation, type Speculation } from "./speculation.js";
import type { TokenSourceFactory } from "./token-source.js";
import { generateOnSlot, slotStats } from "./slot-generation.js";
import { PriorityGate } from "./batch-priority.js";

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
  /** CPU threads for prefill and decode. Never more than the cores available: with more, decode collapses (docs/engine.md). */
  threads: number;
  /** Tokens per evaluation batch. With a large vocabulary this drives RAM through the logits buffer (docs/engine.md). Defaults to 512. */
  batchSize?: number;
  /** Flash attention in llama.cpp's attention (llama-server's default on CPU too). Defaults to true. */
  flashAttention?: boolean;
  /** Requests that may wait for a free sequence; one more is answered 503 `server_busy`. Defaults to 64. */
  maxQueuedRequests?: number;
  /**
   * Host-RAM budget of the prefix cache, bytes: KV states of sequences kept beyond the slots, restored when a prompt
   * shares their prefix (docs/engine.md, "The prefix cache"). 0 turns it off; it is off on recurrent and hybrid
   * models, whose state cannot be cut to a prefix. The server passes `engine.cacheRamBytes` (`--cache-ram`, default:
   * `defaultCacheRamBytes` of memory-estimate.ts, the slots' KV cache size). Defaults to 0.
   */
  cacheRamBytes?: number;
  /** Where the prefix cache's state files go. Defaults to /dev/shm when present, else the OS temp dir. */
  prefixCacheRoot?: string;
  /**
   * Whether requests that share a long prefix with a prompt being evaluated on another slot wait for it and restore its
   * state instead of evaluating the prefix again (docs/engine.md, "The prefix cache"). Needs the prefix cache (off with
   * it). The server passes `engine.sharedPrefill`. Defaults to true.
   */
  sharedPrefill?: boolean;
  /** Whether the model thinks when a request does not say (models with `<think>` tokens only). Defaults to true, as Qwen3 templates do. */
  thinkingByDefault?: boolean;
  /**
   * Speculative decoding (prompt lookup or a draft model, loaded here with the same context shape); ignored, with a
   * warning, on recurrent and hybrid models. Defaults to none.
   */
  speculative?: SpeculativeOptions;
  /**
   * Test seam: makes a request's token source instead of llama.cpp's sampling, such as a scripted output whose tokens
   * go through the real output parser (thoughts, tool calls, stop sequences, counting), so that tests of random-weight
   * models can assert on what a real model would write (`test/helpers/scripted-tokens.ts`). Returning `undefined`
   * samples. Defaults to none.
   */
  createTokenSource?: TokenSourceFactory;
  /** Where to log. */
  logger: Logger;
  /** Clock for `created` fields and the explicit cache's TTL (`cache_control`), epoch ms. Defaults to `Date.now`. */
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
  const { llama, modelPath } = options;
  const now = options.now ?? Date.now;
  const model = await llama.loadModel({ modelPath });
  try {
    const contextSize = options.contextTokens ?? Math.min(model.trainContextSize, defaultMaxContextTokens);
    const batching = new DecodeBatching();
    const sequences = options.parallel ?? 4;
    const batchSize = Math.min(options.batchSize ?? 512, contextSize);
    const flashAttention = options.flashAttention ?? true;
    const insights = model.fileInsights;
    // Rejected drafted tokens are erased from the KV cache, which recurrent and hybrid models cannot do in part.
    const canSpeculate = !insights.isRecurrent && !insights.isHybrid;
    if (options.speculative && !canSpeculate) {
      options.logger.warn(
        { model: options.id ?? modelIdFromPath(modelPath) },
        "speculative decoding is not applied: the model is recurrent or hybrid, and its state cannot drop rejected drafted tokens",
      );
    }
    const speculation =
      options.speculative === undefined || !canSpeculate
        ? undefined
        : await createSpeculation({
            llama,
            target: model,
            options: options.speculative,
            sequences,
            contextTokens: contextSize,
            threads: options.threads,
            batchSize,
            flashAttention,
          });
    let context: LlamaContext | undefined;
    try {
      context = await model.createContext({
        contextSize,
        sequences,
        threads: options.threads,
        batchSize,
        flashAttention,
        batching: { dispatchSchedule: (dispatch) => batching.schedule(dispatch), itemPrioritizationStrategy: inSequenceOrder },
      });
      const pins = new ContextCachePins({ now });
      const prefixCache =
        (options.cacheRamBytes ?? 0) > 0 && !insights.isRecurrent && !insights.isHybrid
          ? await PrefixCache.create({
              budgetBytes: options.cacheRamBytes!,
              root: options.prefixCacheRoot,
              logger: options.logger,
              modelId: options.id ?? modelIdFromPath(modelPath),
              pins,
            })
          : undefined;
      const sharedPrefills = prefixCache !== undefined && options.sharedPrefill !== false ? new SharedPrefills(prefixCache) : undefined;
      return new LlamaBackend(model, context, options, now, batching, { prefixCache, sharedPrefills }, speculation, pins);
    } catch (error) {
      await context?.dispose();
      await speculation?.dispose();
      throw error;
    }
  } catch (error) {
    await model.dispose();
    throw error;
  }
}
/**
 * How much a free slot is worth to a prompt (the pool takes the highest): the tokens of the prompt it holds already,
 * less the history it would lose when that history is worth keeping (32 tokens or more, `defaultMinRestoreTokens`);
 * among equal scores, the slot holding the fewest tokens. Without the penalty, a new conversation took the slot of
 * another for the few tokens of a chat template's preamble and system prompt they share, while empty slots waited:
 * 4 conversations on 4 slots taking turns found their histories gone (16 cached tokens of 740 on each follow-up,
 * `npm run bench:prefix-cache` with 4 conversations at concurrency 1), and with the prefix cache each such move cost a
 * save.
 *
 * @param sharedTokens - how many leading prompt tokens the slot holds.
 * @param heldTokens - how many tokens the slot holds.
 */
export function slotScore(sharedTokens: number, heldTokens: number): number {
  const lostTokens = heldTokens - sharedTokens;
  return sharedTokens - (lostTokens >= defaultMinRestoreTokens ? lostTokens : 0) + 1 / (2 + heldTokens);
}

/** The id a model file is served under: its file name without `.gguf`. */
export function modelIdFromPath(modelPath: string): string {
  return path.basename(modelPath).replace(/\.gguf$/i, "");
}
class LlamaBackend implements ModelBackend {
  readonly info: ModelInfo;
  readonly #model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #pool: SlotPool<LlamaContextSequence>;
  readonly #frontend: ModelFrontend;
  readonly #targetShared: SequenceTargetShared;
  readonly #embeddings: Embeddings;
  readonly #engineDetails: EngineDetails;
  readonly #prefixCache: PrefixCache | undefined;
  readonly #sharedPrefills: SharedPrefills | undefined;
  readonly #speculation: Speculation | undefined;
  readonly #pins: ContextCachePins;
  /** Batch lines yield to interactive prompts (docs/batch.md). */
  readonly #gate = new PriorityGate();
  #disposed = false;

  constructor(
    model: LlamaModel,
    context: LlamaContext,
    options: LlamaBackendOptions,
    now: () => number,
    batching: DecodeBatching,
    caches: { prefixCache: PrefixCache | undefined; sharedPrefills: SharedPrefills | undefined },
    speculation: Speculation | undefined,
    pins: ContextCachePins,
  ) {
    this.#pins = pins;
    this.#model = model;
    this.#context = context;
    const { prefixCache, sharedPrefills } = caches;
    this.#prefixCache = prefixCache;
    this.#sharedPrefills = sharedPrefills;
    this.#speculation = speculation;
    const sequences = Array.from({ length: context.totalSequences }, () => context.getSequence());
    this.#pool = new SlotPool(sequences, { maxWaiting: options.maxQueuedRequests ?? 64 });
    this.#frontend = createModelFrontend({
      llama: options.llama,
      model,
      modelPath: options.modelPath,
      id: options.id ?? modelIdFromPath(options.modelPath),
      contextTokens: sequences[0]?.contextSize ?? context.contextSize,
      parallelSequences: sequences.length,
      thinkingByDefault: options.thinkingByDefault,
      createTokenSource: options.createTokenSource,
      logger: options.logger,
      now,
    });
    this.info = this.#frontend.info;
    this.#targetShared = {
      batching,
      sequenceIndex: new Map(sequences.map((sequence, index) => [sequence, index])),
      canReusePrefix: this.#frontend.canReusePrefix,
      tokenBytes: this.#frontend.shared.tokenBytes,
      prefixCache,
      sharedPrefills,
      speculation,
      gate: this.#gate,
      reusableEvaluations: new Map(sequences.map((sequence) => [sequence, {}])),
    };
    this.#embeddings = new Embeddings({
      model,
      tokenizer: this.#frontend.tokenizer,
      contextTokens: this.info.contextTokens,
      vocabularySize: this.info.vocabularySize,
      threads: options.threads,
    });
    const gpuLayers = model.gpuLayers;
    const layers = model.fileInsights.totalLayers;
    this.#engineDetails = {
      kind: "inproc",
      placement: {
        description: gpuLayers === 0 ? "CPU only" : gpuLayers >= layers ? "all on the GPU" : `${gpuLayers} of ${layers} layers on the GPU`,
        gpuLayers,
        cpuMoeLayers: 0,
      },
    };
  }

  engine(): EngineDetails {
    return this.#engineDetails;
  }

  stats(): BackendStats {
    return slotStats(this.#frontend, this.#pool);
  }

  async generate(request: GenerateRequest): Promise<GenerationStream> {
    this.#ensureNotDisposed();
    return await generateOnSlot(
      {
        frontend: this.#frontend,
        pool: this.#pool,
        sharedPrefixLength: (sequence, promptTokens) =>
          slotScore(sequence.compareContextTokens(promptTokens).firstDifferentIndex, sequence.nextTokenIndex),
        target: (sequence) => sequenceTarget(sequence, this.#targetShared),
        pins: this.#pins,
        gate: this.#gate,
      },
      request,
    );
  }

  async countPromptTokens(request: GenerateRequest): Promise<number> {
    this.#ensureNotDisposed();
    return (await this.#frontend.preparer.prepare(request)).promptTokens.length;
  }

  async embed(
    inputs: ReadonlyArray<string | readonly number[]>,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ embeddings: Float32Array[]; promptTokens: number }> {
    this.#ensureNotDisposed();
    return await this.#embeddings.embed(inputs, options);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pool.rejectAll(modelUnloadingError());
    await this.#frontend.tokenizer.dispose();
    await this.#embeddings.dispose();
    // The evaluations kept open between requests (their samplers) go before their context.
    for (const slot of this.#targetShared.reusableEvaluations?.values() ?? []) {
      const open = slot.current;
      slot.current = undefined;
      await open?.steps.return(undefined).catch(() => undefined);
    }
    await this.#context.dispose();
    await this.#prefixCache?.dispose();
    await this.#speculation?.dispose();
    await this.#model.dispose();
  }

  /** The prefix cache's counters, `undefined` when it is off (tests, logs). */
  prefixCacheStats(): PrefixCacheStats | undefined {
    return this.#prefixCache?.stats();
  }

  /** The shared prefills' counters, `undefined` when they are off (tests, logs). */
  sharedPrefillStats(): SharedPrefillStats | undefined {
    return this.#sharedPrefills?.stats();
  }

  #ensureNotDisposed(): void {
    if (this.#disposed) throw modelUnloadingError();
  }
}
