import type { ModelFacts } from "../../src/planner/model-facts.js";

/** Options of {@link syntheticMoeFacts}; sizes in bytes. */
export interface SyntheticMoeOptions {
  layers: number;
  /** Routed-expert bytes per layer (all experts). 0 makes a dense model. */
  routedExpertBytesPerLayer: number;
  /** Attention, norms and router bytes per layer. */
  otherBytesPerLayer: number;
  inputEmbeddingBytes: number;
  outputBytes: number;
  expertCount?: number;
  expertUsedCount?: number;
  vocabularySize?: number;
  hiddenSize?: number;
  kvHeadCount?: number;
  headDim?: number;
  contextTokens?: number;
  /** Bits per weight, to turn bytes into parameters. Defaults to 4.5. */
  bitsPerWeight?: number;
  name?: string;
}

/**
 * A {@link ModelFacts} built from sizes instead of a GGUF, for placement and speed tests that need exact, round numbers.
 */
export function syntheticMoeFacts(options: SyntheticMoeOptions): ModelFacts {
  const bits = options.bitsPerWeight ?? 4.5;
  const toParameters = (bytes: number): number => (bytes * 8) / bits;
  const expertCount = options.expertCount ?? 128;
  const expertUsedCount = options.expertUsedCount ?? 8;
  const isMoe = options.routedExpertBytesPerLayer > 0;
  const fraction = isMoe ? expertUsedCount / expertCount : 1;
  const routedExpertBytes = options.layers * options.routedExpertBytesPerLayer;
  const layerOther = options.layers * options.otherBytesPerLayer;
  const totalBytes = routedExpertBytes + layerOther + options.inputEmbeddingBytes + options.outputBytes;
  const vocabularySize = options.vocabularySize ?? 151936;
  const totalParameters = toParameters(totalBytes);
  const activeParameters = totalParameters - toParameters(routedExpertBytes) * (1 - fraction);
  const headDim = options.headDim ?? 128;
  return {
    source: { kind: "file", path: `/models/${options.name ?? "synthetic"}.gguf`, sizeBytes: totalBytes },
    name: options.name ?? "synthetic",
    architecture: "qwen3moe",
    fileType: "Q4_K_M",
    fileSizeBytes: totalBytes,
    contextTokens: options.contextTokens ?? 40960,
    layerCount: options.layers,
    hiddenSize: options.hiddenSize ?? 2048,
    vocabularySize,
    attention: {
      headCount: 32,
      kvHeadCount: options.kvHeadCount ?? 4,
      keyLength: headDim,
      valueLength: headDim,
      layerCount: options.layers,
    },
    recurrent: undefined,
    moe: isMoe ? { expertCount, expertUsedCount, sharedExpertCount: 0, expertFeedForwardLength: 768 } : undefined,
    parameters: {
      total: totalParameters,
      active: activeParameters,
      routedExpert: toParameters(routedExpertBytes),
      sharedExpert: 0,
      inputEmbedding: toParameters(options.inputEmbeddingBytes),
      output: toParameters(options.outputBytes),
    },
    weights: {
      totalBytes,
      routedExpertBytes,
      sharedExpertBytes: 0,
      inputEmbeddingBytes: options.inputEmbeddingBytes,
      outputBytes: options.outputBytes,
      tiedOutput: false,
      otherBytes: 0,
      layers: Array.from({ length: options.layers }, (_, index) => ({
        index,
        routedExpertBytes: options.routedExpertBytesPerLayer,
        otherBytes: options.otherBytesPerLayer,
        hasAttention: true,
        isRecurrent: false,
      })),
    },
    activeBytesPerToken:
      totalBytes - options.inputEmbeddingBytes + options.inputEmbeddingBytes / vocabularySize - routedExpertBytes * (1 - fraction),
    matmulParametersPerToken: activeParameters - toParameters(options.inputEmbeddingBytes),
    quantization: [{ type: "Q4_K", tensorCount: 1, parameters: totalParameters, sizeBytes: totalBytes }],
    chat: { hasTemplate: false, templateFamily: null, supportsThinking: false, supportsTools: false },
  };
}
