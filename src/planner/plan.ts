import { estimateCost, type CostEstimate, type CostOptions } from "./cost.js";
import type { HardwareSetup } from "./hardware.js";
import { estimateMemory, type MemoryEstimate } from "./memory-estimate.js";
import type { ModelFacts } from "./model-facts.js";
import { llamaServerArgs, planPlacement, type Placement } from "./placement.js";
import { predictSpeed, type SpeedPrediction } from "./speed.js";
import type { ThroughputMeasurement } from "./measure.js";

/** Options of {@link createPlan}. */
export interface PlanOptions extends CostOptions {
  /** Context window per sequence, in tokens. Defaults to the model's training context, at most 4096 (as `moestro serve`). */
  contextTokens?: number;
  /** Sequences decoded together. Defaults to 4 (as `moestro serve --parallel`). */
  sequences?: number;
  /** Tokens per micro-batch. Defaults to 512. */
  batchTokens?: number;
  /** Prompt length of the prefill prediction, in tokens. Defaults to 512. */
  promptTokens?: number;
}

/** What `moestro plan` reports for one model on one hardware setup. */
export interface Plan {
  /** Whether the model fits at the given context and sequences. */
  fits: boolean;
  /** Why it does not fit; absent when it fits. */
  reason?: string;
  /** Predicted decode speed of one sequence at an empty context, tokens per second; `null` when it does not fit. */
  decodeTokensPerSecond: number | null;
  /** Predicted prompt-processing speed, tokens per second; `null` when it does not fit. */
  prefillTokensPerSecond: number | null;
  model: {
    name: string;
    architecture: string;
    source: string;
    totalParameters: number;
    activeParameters: number;
    weightsBytes: number;
    activeBytesPerToken: number;
    expertCount: number | undefined;
    expertUsedCount: number | undefined;
  };
  hardware: HardwareSetup;
  memory: MemoryEstimate;
  placement: Placement;
  /** llama-server arguments for this placement (`-m FILE -c N -np N -ngl N [--n-cpu-moe N]`). */
  llamaServerArgs: string[];
  /** Predictions in detail; `null` when it does not fit. */
  speed: SpeedPrediction | null;
  /** Cost per 1M output tokens at the aggregate decode speed (a busy server), beside the nearest cloud list price. */
  cost: CostEstimate;
  /** The assumptions behind the figures, one line each. */
  assumptions: string[];
}

/**
 * Plans one model on one hardware setup: memory ({@link estimateMemory}), placement ({@link planPlacement}), speed
 * ({@link predictSpeed}) and cost ({@link estimateCost}). Pure: no I/O.
 *
 * @example
 * const facts = await readModelFacts("model.gguf");
 * const plan = createPlan(facts, setupFromCatalog("rtx-4090"), {contextTokens: 8192, sequences: 1});
 * console.log(plan.fits, plan.placement.description, plan.decodeTokensPerSecond);
 */
export function createPlan(facts: ModelFacts, setup: HardwareSetup, options: PlanOptions = {}): Plan {
  const contextTokens = options.contextTokens ?? Math.min(facts.contextTokens ?? 4096, 4096);
  const sequences = options.sequences ?? 4;
  const memory = estimateMemory(facts, { contextTokens, sequences, batchTokens: options.batchTokens ?? 512 });
  const placement = planPlacement(facts, memory, setup);
  const speed = placement.fits ? predictSpeed(facts, memory, placement, setup, { promptTokens: options.promptTokens ?? 512 }) : null;
  const modelPath = facts.source.kind === "file" ? facts.source.path : facts.source.filePath;
  const cost = estimateCost(
    speed?.aggregateDecodeTokensPerSecond ?? 0,
    { ...options, powerWatts: options.powerWatts ?? setup.powerWatts },
    facts,
  );
  // Only what applies to this model: a dense model has no routed experts, and no expert term in its compute buffer.
  const isMoe = facts.moe !== undefined;
  const assumptions = [
    "weights: ggml block sizes of each tensor's type (ggml.c type_traits)",
    "KV cache: f16 keys and values (-ctk f16 -ctv f16), flash attention on (llama.cpp -fa auto)",
    isMoe
      ? "compute buffer: 4 B × batch × (vocabulary + 4 × hidden + 3 × experts used × expert FFN), a heuristic"
      : "compute buffer: 4 B × batch × (vocabulary + 4 × hidden), a heuristic",
    "margin kept free per device: min(1 GiB, 10%)",
    `decode is memory-bandwidth bound: every ${isMoe ? "active " : ""}weight is read once per token from the memory it sits in`,
    ...(isMoe
      ? ["routed experts: each token uses expert_used_count of expert_count uniformly; a batch of S tokens touches 1 − (1 − k/E)^S of them"]
      : []),
    `prefill is compute bound: 2 FLOPs per ${isMoe ? "active " : ""}matmul parameter per token; host-resident weights cross PCIe once per batch (llama.cpp op offload)`,
    "cost: power × time or hourly price × time at the aggregate decode speed of all sequences",
    ...setup.sources,
  ];
  return {
    fits: placement.fits,
    ...(placement.reason !== undefined ? { reason: placement.reason } : {}),
    decodeTokensPerSecond: speed?.decodeTokensPerSecond ?? null,
    prefillTokensPerSecond: speed?.prefillTokensPerSecond ?? null,
    model: {
      name: facts.name,
      architecture: facts.architecture,
      source: facts.source.kind === "file" ? facts.source.path : facts.source.ref,
      totalParameters: facts.parameters.total,
      activeParameters: facts.parameters.active,
      weightsBytes: facts.weights.totalBytes,
      activeBytesPerToken: facts.activeBytesPerToken,
      expertCount: facts.moe?.expertCount,
      expertUsedCount: facts.moe?.expertUsedCount,
    },
    hardware: setup,
    memory,
    placement,
    llamaServerArgs: placement.fits ? llamaServerArgs(modelPath, placement, memory) : [],
    speed,
    cost,
    assumptions,
  };
}

/** Predicted against measured speeds on this machine, and the effective figures the measurement implies. */
export interface Calibration {
  measured: ThroughputMeasurement;
  /** Predictions for the measured conditions (one sequence, the measured prompt and batch) before calibration. */
  predictedDecodeTokensPerSecond: number;
  predictedPrefillTokensPerSecond: number;
  /** measured / predicted. */
  decodeRatio: number;
  prefillRatio: number;
  /** Effective bandwidth of the memory the weights were read from: decode tokens/s × bytes per token. */
  effectiveBandwidthBytesPerSecond: number;
  /** Effective FLOP/s: prefill tokens/s × FLOPs per token. */
  effectiveFlopsPerSecond: number;
  /** The setup with the calibrated figures (efficiency 1): plan again with it to predict other models on this machine. */
  calibratedSetup: HardwareSetup;
}

/**
 * Compares a {@link ThroughputMeasurement} with the prediction for the same conditions and derives effective
 * figures: bandwidth = measured decode tokens/s × bytes read per token (weights + KV cache at the measured position),
 * FLOP/s = measured prefill tokens/s × FLOPs per token. For a CPU run they replace the host's figures; for an all-GPU
 * run, the GPU's.
 */
export function calibrate(facts: ModelFacts, setup: HardwareSetup, measured: ThroughputMeasurement): Calibration {
  const runSetup: HardwareSetup = measured.gpu ? setup : { ...setup, gpu: undefined, unified: false, hostToGpuBytesPerSecond: undefined };
  const memory = estimateMemory(facts, {
    contextTokens: measured.promptTokens + measured.decodeTokens + 16,
    sequences: 1,
    batchTokens: measured.batchSize,
  });
  const placement = planPlacement(facts, memory, { ...runSetup, host: { ...runSetup.host, memoryBytes: Number.MAX_SAFE_INTEGER } });
  const position = measured.promptTokens + measured.decodeTokens / 2;
  const prediction = predictSpeed(facts, memory, placement, runSetup, {
    promptTokens: measured.promptTokens,
    contextPositionTokens: position,
  });
  const bytesPerToken = prediction.decodeBytesPerToken.gpu + prediction.decodeBytesPerToken.host;
  const effectiveBandwidth = measured.decodeTokensPerSecond * bytesPerToken;
  const effectiveFlops = measured.prefillTokensPerSecond * prediction.prefillFlopsPerToken;
  const calibratedSetup: HardwareSetup =
    measured.gpu && setup.gpu
      ? {
          ...setup,
          gpu: {
            ...setup.gpu,
            bandwidthBytesPerSecond: effectiveBandwidth,
            bandwidthEfficiency: 1,
            flopsPerSecond: effectiveFlops,
            computeEfficiency: 1,
          },
          sources: [...setup.sources, "GPU bandwidth and FLOP/s: calibrated by --measure"],
        }
      : {
          ...setup,
          host: {
            ...setup.host,
            bandwidthBytesPerSecond: effectiveBandwidth,
            bandwidthEfficiency: 1,
            flopsPerSecond: effectiveFlops,
            computeEfficiency: 1,
          },
          sources: [...setup.sources, `RAM bandwidth and CPU FLOP/s: calibrated by --measure (${measured.threads} threads)`],
        };
  return {
    measured,
    predictedDecodeTokensPerSecond: prediction.decodeTokensPerSecond,
    predictedPrefillTokensPerSecond: prediction.prefillTokensPerSecond,
    decodeRatio: measured.decodeTokensPerSecond / prediction.decodeTokensPerSecond,
    prefillRatio: measured.prefillTokensPerSecond / prediction.prefillTokensPerSecond,
    effectiveBandwidthBytesPerSecond: effectiveBandwidth,
    effectiveFlopsPerSecond: effectiveFlops,
    calibratedSetup,
  };
}
