import type { DeviceSpec, HardwareSetup } from "./hardware.js";
import type { MemoryEstimate } from "./memory-estimate.js";
import type { ModelFacts } from "./model-facts.js";
import type { Placement } from "./placement.js";
import { formatBandwidth, formatBytes, formatSignificant } from "../util/size-units.js";

/** Options of {@link predictSpeed}. */
export interface SpeedOptions {
  /** Prompt length for the prefill prediction, in tokens. Defaults to 512 (llama-bench's `pp512`). */
  promptTokens?: number;
  /** Context position of the headline decode prediction, in tokens already cached. Defaults to 0 (an empty context). */
  contextPositionTokens?: number;
}

/** Predicted speeds of a placement, with the inputs and formulas behind them. */
export interface SpeedPrediction {
  /** One sequence, at `contextPositionTokens`. */
  decodeTokensPerSecond: number;
  /** One sequence whose context is full (`memory.contextTokens` cached): the KV cache read slows it down. */
  decodeTokensPerSecondAtFullContext: number;
  /** All `memory.sequences` sequences decoding together, tokens per second summed, at an empty context. */
  aggregateDecodeTokensPerSecond: number;
  /** Prompt processing of `promptTokens` tokens, one sequence. */
  prefillTokensPerSecond: number;
  /** Weight bytes read per decoded token (one sequence, empty context) from each device's memory. */
  decodeBytesPerToken: { gpu: number; host: number };
  /** FLOPs per prompt token: matmuls (the output head once per prompt) plus attention at half the prompt length. */
  prefillFlopsPerToken: number;
  /** Effective figures used: peak × efficiency, in bytes/s and FLOP/s. */
  effective: {
    gpuBandwidthBytesPerSecond?: number;
    hostBandwidthBytesPerSecond: number;
    gpuFlopsPerSecond?: number;
    hostFlopsPerSecond: number;
  };
  promptTokens: number;
  contextPositionTokens: number;
  /** The formulas with the numbers put in, one line each, for people. */
  formulas: string[];
}

const effectiveBandwidth = (device: DeviceSpec): number => device.bandwidthBytesPerSecond * device.bandwidthEfficiency;
const effectiveFlops = (device: DeviceSpec): number => device.flopsPerSecond * device.computeEfficiency;

/**
 * Expected fraction of a layer's routed experts that `tokens` tokens touch when each picks `expertUsedCount` of
 * `expertCount` independently and uniformly: 1 − (1 − used/count)^tokens. Real routers are skewed, so batches touch
 * fewer experts than this (an upper bound on the bytes read). Qwen3-30B-A3B (8 of 128): 6.25% for 1 token, 22.8% for 4,
 * 100% for a 512-token prefill batch.
 */
export function expertCoverageFraction(expertCount: number, expertUsedCount: number, tokens: number): number {
  if (expertCount <= 0) return 1;
  return 1 - (1 - Math.min(1, expertUsedCount / expertCount)) ** Math.max(1, tokens);
}

/**
 * Predicts decode and prefill speed of a placement.
 *
 * Decode (memory-bandwidth bound, roofline): one token reads every active weight once, from the memory it sits in, and
 * the KV cache so far. Devices work one after another (layer by layer), so
 * `time = Σ_device max(bytes_d / bandwidth_d, flops_d / flops_per_s_d)` and tokens/s = 1 / time, where
 * bytes = {@link ModelFacts.activeBytesPerToken} split by placement + kvCacheBytesPerToken × position. With S sequences
 * together, the non-expert weights are read once per step and the experts per {@link expertCoverageFraction}(S).
 *
 * Prefill (compute bound): 2 FLOPs per matmul parameter per token (`matmulParametersPerToken`) except the output head,
 * which llama.cpp multiplies only for the prompt's last token (2 × output parameters / prompt per token), plus
 * attention, 2 × heads × (keyLength + valueLength) × (prompt / 2) per attention layer. A micro-batch of `batchTokens` tokens takes
 * `max(batch × FLOPs / flops_per_s, weight bytes touched / bandwidth)`. With a GPU, llama.cpp also multiplies host-resident
 * weights on the GPU for batches of 32 tokens or more (op offload, `ggml-cuda.cu`), copying them over PCIe first:
 * + host-resident bytes touched / hostToGpuBytesPerSecond.
 */
export function predictSpeed(
  facts: ModelFacts,
  memory: MemoryEstimate,
  placement: Placement,
  setup: HardwareSetup,
  options: SpeedOptions = {},
): SpeedPrediction {
  const promptTokens = options.promptTokens ?? 512;
  const position = options.contextPositionTokens ?? 0;
  const gpu = placement.kind === "cpu" || placement.kind === "none" ? undefined : setup.gpu;
  const host = setup.host;
  const weights = facts.weights;
  const moe = facts.moe;
  const activeFraction = moe ? Math.min(1, moe.expertUsedCount / moe.expertCount) : 1;
  const embeddingRowBytes = facts.vocabularySize > 0 ? weights.inputEmbeddingBytes / facts.vocabularySize : 0;

  // Host bytes of a decode step when `coverage` of the experts is touched.
  const hostStepBytes = (coverage: number): number =>
    gpu === undefined ? Number.NaN : coverage * placement.hostRoutedExpertBytes + placement.hostLayerOtherBytes + embeddingRowBytes;
  const totalStepBytes = (coverage: number): number => facts.activeBytesPerToken + (coverage - activeFraction) * weights.routedExpertBytes;

  const matmulFlopsPerToken = 2 * facts.matmulParametersPerToken;
  const attentionFlopsPerCachedToken =
    2 * facts.attention.layerCount * facts.attention.headCount * (facts.attention.keyLength + facts.attention.valueLength);

  const gpuBandwidth = gpu ? effectiveBandwidth(gpu) : undefined;
  const gpuFlops = gpu ? effectiveFlops(gpu) : undefined;
  const hostBandwidth = effectiveBandwidth(host);
  const hostFlops = effectiveFlops(host);

  function stepSeconds(sequences: number, cachedTokens: number): { seconds: number; gpuBytes: number; hostBytes: number } {
    const coverage = moe ? expertCoverageFraction(moe.expertCount, moe.expertUsedCount, sequences) : 1;
    const weightBytes = totalStepBytes(coverage);
    const kvBytes = memory.kvCacheBytesPerToken * cachedTokens * sequences;
    const flops = sequences * (matmulFlopsPerToken + attentionFlopsPerCachedToken * cachedTokens);
    if (gpu === undefined) {
      const bytes = weightBytes + kvBytes;
      return { seconds: Math.max(bytes / hostBandwidth, flops / hostFlops), gpuBytes: 0, hostBytes: bytes };
    }
    const hostWeightBytes = hostStepBytes(coverage);
    const hostBytes = hostWeightBytes + kvBytes * (1 - placement.gpuCacheShare);
    const gpuBytes = weightBytes - hostWeightBytes + kvBytes * placement.gpuCacheShare;
    const hostShare = hostBytes / (hostBytes + gpuBytes);
    const seconds =
      Math.max(gpuBytes / gpuBandwidth!, (flops * (1 - hostShare)) / gpuFlops!) +
      Math.max(hostBytes / hostBandwidth, (flops * hostShare) / hostFlops);
    return { seconds, gpuBytes, hostBytes };
  }

  const single = stepSeconds(1, position);
  const full = stepSeconds(1, memory.contextTokens);
  const aggregate = stepSeconds(memory.sequences, 0);

  // Prefill, per micro-batch. llama.cpp computes logits only for the prompt's last token (the only output a
  // completion asks for), so the output matrix is multiplied, and read, once per prompt rather than once per token.
  const batchTokens = Math.max(1, Math.min(promptTokens, memory.batchTokens));
  const outputParameters = weights.tiedOutput ? facts.parameters.inputEmbedding : facts.parameters.output;
  const outputMatrixBytes = weights.tiedOutput ? weights.inputEmbeddingBytes : weights.outputBytes;
  const prefillFlopsPerToken =
    2 * (facts.matmulParametersPerToken - outputParameters) +
    (2 * outputParameters) / promptTokens +
    (attentionFlopsPerCachedToken * promptTokens) / 2;
  const batchCoverage = moe ? expertCoverageFraction(moe.expertCount, moe.expertUsedCount, batchTokens) : 1;
  const touchedBytes = totalStepBytes(batchCoverage) - outputMatrixBytes + (outputMatrixBytes * batchTokens) / promptTokens;
  let prefillSeconds: number;
  let prefillFormula: string;
  if (gpu === undefined) {
    prefillSeconds = Math.max((batchTokens * prefillFlopsPerToken) / hostFlops, touchedBytes / hostBandwidth);
    prefillFormula = `prefill = ${batchTokens} / max(${batchTokens} × ${formatSignificant(prefillFlopsPerToken / 1e9)} GFLOP / ${formatSignificant(hostFlops / 1e12)} TFLOP/s, ${formatBytes(touchedBytes)} / ${formatBandwidth(hostBandwidth)})`;
  } else {
    const hostTouched = batchCoverage * placement.hostRoutedExpertBytes + placement.hostLayerOtherBytes;
    const transferSeconds = setup.unified || hostTouched === 0 ? 0 : hostTouched / (setup.hostToGpuBytesPerSecond ?? 32e9);
    prefillSeconds =
      Math.max((batchTokens * prefillFlopsPerToken) / gpuFlops!, (touchedBytes - hostTouched) / gpuBandwidth!) + transferSeconds;
    prefillFormula =
      `prefill = ${batchTokens} / (max(${batchTokens} × ${formatSignificant(prefillFlopsPerToken / 1e9)} GFLOP / ${formatSignificant(gpuFlops! / 1e12)} TFLOP/s, ${formatBytes(touchedBytes - hostTouched)} / ${formatBandwidth(gpuBandwidth!)})` +
      (transferSeconds > 0
        ? ` + ${formatBytes(hostTouched)} over PCIe at ${formatBandwidth(setup.hostToGpuBytesPerSecond ?? 32e9)})`
        : ")");
  }

  const formulas = [
    gpu === undefined
      ? `decode = 1 / (${formatBytes(single.hostBytes)} per token / ${formatBandwidth(hostBandwidth)} effective RAM bandwidth)`
      : `decode = 1 / (${formatBytes(single.gpuBytes)} / ${formatBandwidth(gpuBandwidth!)} GPU + ${formatBytes(single.hostBytes)} / ${formatBandwidth(hostBandwidth)} RAM)`,
    `bytes per token = ${moe ? `non-expert weights + ${moe.expertUsedCount}/${moe.expertCount} × routed experts` : "all weights"} − embedding table + 1 embedding row${weights.tiedOutput ? " + tied output matrix" : ""} + KV cache (${formatBytes(memory.kvCacheBytesPerToken)} per cached token)`,
    `aggregate decode (${memory.sequences} sequences) = ${memory.sequences} / step time${moe ? `; experts touched per step = 1 − (1 − used/count)^${memory.sequences}` : ""}`,
    prefillFormula,
    `prefill FLOPs per token = 2 × ${formatSignificant((facts.matmulParametersPerToken - outputParameters) / 1e9)}B matmul parameters + the output head once per ${promptTokens}-token prompt + attention at ${promptTokens / 2} cached tokens`,
  ];

  return {
    decodeTokensPerSecond: 1 / single.seconds,
    decodeTokensPerSecondAtFullContext: 1 / full.seconds,
    aggregateDecodeTokensPerSecond: memory.sequences / aggregate.seconds,
    prefillTokensPerSecond: batchTokens / prefillSeconds,
    decodeBytesPerToken: { gpu: single.gpuBytes, host: single.hostBytes },
    prefillFlopsPerToken,
    effective: {
      ...(gpu ? { gpuBandwidthBytesPerSecond: gpuBandwidth, gpuFlopsPerSecond: gpuFlops } : {}),
      hostBandwidthBytesPerSecond: hostBandwidth,
      hostFlopsPerSecond: hostFlops,
    },
    promptTokens,
    contextPositionTokens: position,
    formulas,
  };
}
