import { decodeOverheadSeconds, defaultDecodeOverhead, type DeviceSpec, type HardwareSetup } from "./hardware.js";
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
  /**
   * Seconds of the headline decode step (one sequence at `contextPositionTokens`), split: `overheadSeconds` (the
   * setup's {@link HardwareSetup.decodeOverhead} for one sequence) and one term per device, the larger of its bytes
   * over its bandwidth and its FLOPs over its FLOP/s (`binding` says which). The step is their sum.
   */
  decodeStep: DecodeStep;
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

/** One device's share of a decode step: see {@link SpeedPrediction.decodeStep}. */
export interface DecodeDeviceTerm {
  /** `gpu` or `host` (CPU and RAM). */
  device: "gpu" | "host";
  /** Bytes read from the device's memory in the step. */
  bytes: number;
  /** Effective bandwidth, bytes per second. */
  bandwidthBytesPerSecond: number;
  /** FLOPs the device does in the step. */
  flops: number;
  /** Effective FLOP/s. */
  flopsPerSecond: number;
  /** Which of bytes / bandwidth and FLOPs / FLOP/s is larger, and so gives `seconds`. */
  binding: "bandwidth" | "compute";
  /** max(bytes / bandwidth, FLOPs / FLOP/s). */
  seconds: number;
}

/** A decode step's time, term by term. */
export interface DecodeStep {
  /** The whole step: the terms' seconds plus `overheadSeconds`. */
  seconds: number;
  /** The per-token overhead of the step ({@link decodeOverheadSeconds}). */
  overheadSeconds: number;
  /** One per device the step reads from, in the order the devices work: the GPU, then the host. */
  terms: DecodeDeviceTerm[];
}

function deviceTerm(
  device: "gpu" | "host",
  bytes: number,
  bandwidthBytesPerSecond: number,
  flops: number,
  flopsPerSecond: number,
): DecodeDeviceTerm {
  const bandwidthSeconds = bytes / bandwidthBytesPerSecond;
  const computeSeconds = flops / flopsPerSecond;
  const binding = computeSeconds > bandwidthSeconds ? "compute" : "bandwidth";
  return {
    device,
    bytes,
    bandwidthBytesPerSecond,
    flops,
    flopsPerSecond,
    binding,
    seconds: Math.max(bandwidthSeconds, computeSeconds),
  };
}

/**
 * A decode step as one line whose numbers reproduce its result: `1 / (term + term + overhead) = N tok/s`, each device
 * with the term that binds it (`bytes / GB/s` or `GFLOP / GFLOP/s`), the printed figures rounded to three digits.
 */
export function formatDecodeStep(step: DecodeStep): string {
  const terms = step.terms.map((term) => {
    const where = term.device === "gpu" ? "GPU" : "RAM";
    return term.binding === "bandwidth"
      ? `${formatBytes(term.bytes)} / ${formatBandwidth(term.bandwidthBytesPerSecond)} ${where}`
      : `${formatSignificant(term.flops / 1e9)} GFLOP / ${formatSignificant(term.flopsPerSecond / 1e9)} GFLOP/s ${term.device === "gpu" ? "GPU" : "CPU"} compute`;
  });
  terms.push(`${formatSignificant(step.overheadSeconds * 1000)} ms overhead`);
  return `1 / (${terms.join(" + ")}) = ${formatSignificant(1 / step.seconds)} tok/s`;
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
 * the KV cache so far. Devices work one after another (layer by layer), and each step pays a fixed overhead
 * ({@link HardwareSetup.decodeOverhead}, default {@link defaultDecodeOverhead}), so
 * `time = Σ_device max(bytes_d / bandwidth_d, flops_d / flops_per_s_d) + overhead` and tokens/s = 1 / time, where
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

  const overhead = setup.decodeOverhead ?? defaultDecodeOverhead;

  function stepSeconds(sequences: number, cachedTokens: number): DecodeStep & { gpuBytes: number; hostBytes: number } {
    const coverage = moe ? expertCoverageFraction(moe.expertCount, moe.expertUsedCount, sequences) : 1;
    const weightBytes = totalStepBytes(coverage);
    const kvBytes = memory.kvCacheBytesPerToken * cachedTokens * sequences;
    const flops = sequences * (matmulFlopsPerToken + attentionFlopsPerCachedToken * cachedTokens);
    const overheadSeconds = decodeOverheadSeconds(overhead, sequences, facts.vocabularySize);
    let terms: DecodeDeviceTerm[];
    if (gpu === undefined) {
      terms = [deviceTerm("host", weightBytes + kvBytes, hostBandwidth, flops, hostFlops)];
    } else {
      const hostWeightBytes = hostStepBytes(coverage);
      const hostBytes = hostWeightBytes + kvBytes * (1 - placement.gpuCacheShare);
      const gpuBytes = weightBytes - hostWeightBytes + kvBytes * placement.gpuCacheShare;
      // FLOPs follow the bytes: a device multiplies the weights it holds.
      const hostShare = hostBytes / (hostBytes + gpuBytes);
      terms = [
        deviceTerm("gpu", gpuBytes, gpuBandwidth!, flops * (1 - hostShare), gpuFlops!),
        deviceTerm("host", hostBytes, hostBandwidth, flops * hostShare, hostFlops),
      ];
    }
    return {
      seconds: terms.reduce((sum, term) => sum + term.seconds, overheadSeconds),
      overheadSeconds,
      terms,
      gpuBytes: terms.find((term) => term.device === "gpu")?.bytes ?? 0,
      hostBytes: terms.find((term) => term.device === "host")!.bytes,
    };
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
    `decode = ${formatDecodeStep(single)}`,
    `decode terms: per device the larger of bytes / effective bandwidth and FLOPs / effective FLOP/s; overhead = ${formatSignificant(overhead.stepSeconds * 1000)} ms per step + ${formatSignificant(overhead.vocabularyEntrySeconds * 1e9)} ns × ${facts.vocabularySize} vocabulary entries per sequence`,
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
    decodeStep: { seconds: single.seconds, overheadSeconds: single.overheadSeconds, terms: single.terms },
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
