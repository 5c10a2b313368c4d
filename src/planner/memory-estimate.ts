import type { ModelFacts } from "./model-facts.js";

/** Options of {@link estimateMemory}. */
export interface MemoryEstimateOptions {
  /** Context window of each sequence, in tokens (llama-server `-c` is this × `sequences`). */
  contextTokens: number;
  /** Sequences decoded together (llama-server `-np`, moestro `--parallel`); each holds its own KV cache. */
  sequences: number;
  /** Tokens per evaluation micro-batch; sizes the compute buffer. Defaults to 512 (llama.cpp's `-ub` default). */
  batchTokens?: number;
  /** Bytes per cached key or value element. Defaults to 2 (llama.cpp's default `f16` cache, `-ctk f16 -ctv f16`). */
  kvCacheBytesPerValue?: number;
}

/** Memory a model needs besides where it sits; {@link planPlacement} splits it between devices. */
export interface MemoryEstimate {
  contextTokens: number;
  sequences: number;
  batchTokens: number;
  /** All weight bytes, as stored in the GGUF. */
  weightsBytes: number;
  /** KV cache of every attention layer for one token position of one sequence. */
  kvCacheBytesPerToken: number;
  /** KV cache of all sequences: kvCacheBytesPerToken × contextTokens × sequences. */
  kvCacheBytes: number;
  /** Recurrent state (Mamba / Gated DeltaNet layers) of all sequences; 0 for pure transformers. */
  recurrentStateBytes: number;
  /** Scratch memory of the compute graph on the device that runs the output layer (a heuristic, see below). */
  computeBufferBytes: number;
  /** Part of the compute graph that stays on the CPU when some layers or experts run there. */
  hostComputeBufferBytes: number;
  /** Host-side logits buffer: 4 bytes × vocabulary × sequences (llama.cpp `llama_context::output_reserve`). */
  outputBufferBytes: number;
}

/**
 * KV cache bytes per token position of one sequence: Σ over attention layers of kvHeads × (keyLength + valueLength) ×
 * bytesPerValue (llama.cpp `llama_kv_cache`: one K and one V row per layer and cell). Qwen3-30B-A3B with an f16 cache:
 * 48 × 4 × (128 + 128) × 2 = 98,304 bytes (96 KiB) per token.
 */
export function kvCacheBytesPerToken(facts: ModelFacts, bytesPerValue = 2): number {
  const { layerCount, kvHeadCount, keyLength, valueLength } = facts.attention;
  return layerCount * kvHeadCount * (keyLength + valueLength) * bytesPerValue;
}

/**
 * Estimates the memory of a model at a context size and sequence count:
 * - weights: every tensor's ggml size (`ggml-types.ts`);
 * - KV cache: {@link kvCacheBytesPerToken} × contextTokens × sequences (llama.cpp pads the context to 256 cells, not
 *   modelled);
 * - recurrent state: per-sequence state × sequences;
 * - compute buffer: 4 bytes × batchTokens × (vocabulary + 4 × hidden + 3 × expertsUsed × expertFfn). The graph's largest
 *   tensors are the batch's logits and the MoE activations; with flash attention (llama.cpp's `-fa auto` default) the
 *   attention scores are not materialised. This is a heuristic, checked against llama.cpp's logged compute buffers
 *   for Qwen3 MoE models (docs/planner.md#memory). Without flash attention add headCount × contextTokens ×
 *   batchTokens × 4 bytes.
 */
export function estimateMemory(facts: ModelFacts, options: MemoryEstimateOptions): MemoryEstimate {
  const batchTokens = options.batchTokens ?? 512;
  const perToken = kvCacheBytesPerToken(facts, options.kvCacheBytesPerValue ?? 2);
  const expertActivations = facts.moe ? 3 * facts.moe.expertUsedCount * (facts.moe.expertFeedForwardLength ?? facts.hiddenSize) : 0;
  const layerActivationsBytes = 4 * batchTokens * (4 * facts.hiddenSize + expertActivations);
  return {
    contextTokens: options.contextTokens,
    sequences: options.sequences,
    batchTokens,
    weightsBytes: facts.weights.totalBytes,
    kvCacheBytesPerToken: perToken,
    kvCacheBytes: perToken * options.contextTokens * options.sequences,
    recurrentStateBytes: (facts.recurrent?.stateBytesPerSequence ?? 0) * options.sequences,
    computeBufferBytes: 4 * batchTokens * facts.vocabularySize + layerActivationsBytes,
    hostComputeBufferBytes: layerActivationsBytes,
    outputBufferBytes: 4 * facts.vocabularySize * options.sequences,
  };
}
