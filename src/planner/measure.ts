import os from "node:os";
import { getLlama, LlamaLogLevel, type Llama, type Token } from "node-llama-cpp";

/** Options of {@link measureThroughput}. */
export interface MeasureOptions {
  /**
   * CPU threads for prefill and decode, given to `getLlama({maxThreads})` and `createContext({threads})`. Capped at the
   * available cores: node-llama-cpp's default of 4 collapses decode on 2 cores. Defaults to the available cores minus
   * one (at least 1): ggml's spinning threads degrade badly when another process wants the same cores
   * (docs/planner.md#--measure-and-calibration).
   */
  threads?: number;
  /** Prompt tokens to prefill. Defaults to 128. */
  promptTokens?: number;
  /** Tokens to decode after the prompt; the first two are not timed (warm-up). Defaults to 32. */
  decodeTokens?: number;
  /**
   * Tokens per evaluation batch. Defaults to 64: with a 151k-token vocabulary the logits buffer grows with the batch
   * (docs/engine.md#sampling-threads-and-memory).
   */
  batchSize?: number;
  /**
   * Layers on the GPU: 0 for CPU only, `"max"` for all. Defaults to 0 (node-llama-cpp cannot keep experts in RAM while
   * the rest sits on the GPU, so only all-or-nothing matches a plan).
   */
  gpuLayers?: number | "max";
  /** Supplies the llama.cpp binding (tests reuse one). Defaults to `getLlama({gpu, build: "never", maxThreads})`. */
  llama?: Llama;
  /** Aborts between evaluations; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Speeds measured by {@link measureThroughput}. */
export interface ThroughputMeasurement {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  promptTokens: number;
  /** Decoded tokens that were timed. */
  decodeTokens: number;
  threads: number;
  batchSize: number;
  /** Whether the model ran on a GPU. */
  gpu: boolean;
}

/**
 * Loads a local GGUF with node-llama-cpp and measures a short prefill and decode on one sequence: `promptTokens` tokens
 * (a sentence repeated, tokenized by the model) evaluated with `evaluateWithoutGeneratingNewTokens`, then
 * `decodeTokens` greedy tokens, one evaluation each. The model and context are disposed afterwards. It takes seconds
 * (docs/planner.md#--measure-and-calibration).
 *
 * @throws when the model cannot be loaded; rethrows the signal's reason on abort.
 */
export async function measureThroughput(modelPath: string, options: MeasureOptions = {}): Promise<ThroughputMeasurement> {
  const cores = os.availableParallelism();
  const threads = Math.max(1, Math.min(options.threads ?? cores - 1, cores));
  const promptTokens = options.promptTokens ?? 128;
  const decodeTokens = options.decodeTokens ?? 32;
  const batchSize = options.batchSize ?? 64;
  const gpuLayers = options.gpuLayers ?? 0;
  const ownsLlama = options.llama === undefined;
  const llama =
    options.llama ??
    (await getLlama({
      gpu: gpuLayers === 0 ? false : "auto",
      build: "never",
      maxThreads: threads,
      logLevel: LlamaLogLevel.error,
      progressLogs: false,
    }));
  const model = await llama.loadModel({ modelPath, gpuLayers });
  try {
    const contextSize = Math.max(256, Math.ceil((promptTokens + decodeTokens + 16) / 256) * 256);
    const context = await model.createContext({ contextSize, batchSize, threads, sequences: 1 });
    try {
      const sequence = context.getSequence();
      const sentence = model.tokenize("Once upon a time, in a small town by the sea, there lived a curious cat who loved to explore. ");
      const prompt: Token[] = [];
      while (prompt.length < promptTokens) prompt.push(...sentence.slice(0, promptTokens - prompt.length));
      options.signal?.throwIfAborted();

      const prefillStart = performance.now();
      await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
      const prefillSeconds = (performance.now() - prefillStart) / 1000;

      const warmupTokens = 2;
      let generated = 0;
      let decodeStart = 0;
      for await (const _token of sequence.evaluate([prompt[prompt.length - 1]!], { temperature: 0 })) {
        generated++;
        if (generated === warmupTokens) decodeStart = performance.now();
        if (generated >= decodeTokens + warmupTokens) break;
        options.signal?.throwIfAborted();
      }
      const decodeSeconds = (performance.now() - decodeStart) / 1000;
      return {
        prefillTokensPerSecond: (prompt.length - 1) / prefillSeconds,
        decodeTokensPerSecond: (generated - warmupTokens) / decodeSeconds,
        promptTokens: prompt.length - 1,
        decodeTokens: generated - warmupTokens,
        threads,
        batchSize,
        gpu: gpuLayers !== 0 && llama.gpu !== false,
      };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
    if (ownsLlama) await llama.dispose();
  }
}
