import { estimateCost, type CostEstimate, type CostOptions } from "./cost.js";
import { workerArgs } from "../engines/llama-server/worker-args.js";
import { defaultCacheRamBytes } from "../engines/prefix-cache-budget.js";
import { formatSignificant } from "../util/size-units.js";
import { decodeOverheadSeconds, defaultDecodeOverhead, type DecodeOverhead, type DeviceSpec, type HardwareSetup } from "./hardware.js";
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
  /**
   * CPU threads of the llama-server worker (`-t` in {@link Plan.workerArgs}). Defaults to 1; callers planning for this
   * machine pass what `moestro serve` would use (`engine.threads`, `defaultThreadCount` in src/config/schema.ts).
   */
  threads?: number;
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
  /** llama-server arguments for this placement (`-m FILE -c N -np N -ngl N [--n-cpu-moe N]`); empty when it does not fit. */
  llamaServerArgs: string[];
  /**
   * The whole command line a moestro llama-server worker gets for this plan, without `--host`, `--port` and
   * `--api-key`: `workerArgs()` of src/engines/llama-server/worker-args.ts with the placement's `-ngl` and
   * `--n-cpu-moe`, the plan's context and sequences, `threads`, flash attention on, the plan's batch (512 by default)
   * and the prompt cache a served worker gets by default (`--cache-ram`: the slots' KV cache size, at most 8 GiB, 0 for
   * recurrent and hybrid models; src/engines/prefix-cache-budget.ts). The plan's memory figures hold no prompt cache:
   * a served model counts it on top, within `--max-memory` (docs/engines.md). Empty when it does not fit.
   */
  workerArgs: string[];
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
  const overhead = setup.decodeOverhead ?? defaultDecodeOverhead;
  const assumptions = [
    "weights: ggml block sizes of each tensor's type (ggml.c type_traits)",
    "KV cache: f16 keys and values (-ctk f16 -ctv f16), flash attention on (llama.cpp -fa auto)",
    isMoe
      ? "compute buffer: 4 B × batch × (vocabulary + 4 × hidden + 3 × experts used × expert FFN), a heuristic"
      : "compute buffer: 4 B × batch × (vocabulary + 4 × hidden), a heuristic",
    "margin kept free per device: min(1 GiB, 10%)",
    `decode reads every ${isMoe ? "active " : ""}weight once per token from the memory it sits in; each device takes the longer of its reads at its bandwidth and its 2 FLOPs per weight at its FLOP/s`,
    setup.decodeOverhead === undefined
      ? `per-token overhead: ${formatSignificant(overhead.stepSeconds * 1000)} ms per decode step + ${formatSignificant(overhead.vocabularyEntrySeconds * 1e9)} ns per vocabulary entry per sequence (${formatSignificant(decodeOverheadSeconds(overhead, 1, facts.vocabularySize) * 1000)} ms here), measured with node-llama-cpp on one core of the development machine (docs/planner.md#per-token-overhead); --measure measures this machine's`
      : `per-token overhead: ${formatSignificant(overhead.stepSeconds * 1000)} ms per decode step + ${formatSignificant(overhead.vocabularyEntrySeconds * 1e9)} ns per vocabulary entry per sequence (${formatSignificant(decodeOverheadSeconds(overhead, 1, facts.vocabularySize) * 1000)} ms here)`,
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
    workerArgs: placement.fits
      ? workerArgs({
          modelPath,
          contextTokens: memory.contextTokens,
          parallel: memory.sequences,
          threads: options.threads ?? 1,
          gpuLayers: placement.gpuLayers,
          cpuMoeLayers: placement.cpuExpertLayers,
          flashAttention: true,
          batchSize: memory.batchTokens,
          // What a served worker gets by default (engine.cacheRamBytes unset): off for recurrent and hybrid models.
          cacheRamMiB:
            memory.recurrentStateBytes > 0
              ? 0
              : Math.floor(defaultCacheRamBytes(memory.kvCacheBytesPerToken, memory.contextTokens, memory.sequences) / 2 ** 20),
        })
      : [],
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
  /**
   * What the decode measurement calibrated, one unknown of the two in `time = overhead + bytes / bandwidth`:
   * - `overhead`: the prediction's overhead was at least its weight-reading time (a tiny model), so the measured time
   *   less the reading time is the overhead; the bandwidth stays;
   * - `bandwidth`: reading weights took longer, so the measured time less the overhead gives the bandwidth.
   */
  calibrated: "overhead" | "bandwidth";
  /** Effective bandwidth of the memory the weights were read from, bytes per second (the setup's when `calibrated` is `overhead`). */
  effectiveBandwidthBytesPerSecond: number;
  /** Effective FLOP/s: prefill tokens/s × FLOPs per token; put in the calibrated setup only when `calibrated` is `bandwidth`. */
  effectiveFlopsPerSecond: number;
  /** Overhead of the measured decode step (one sequence), seconds: measured when `calibrated` is `overhead`. */
  decodeOverheadSeconds: number;
  /** The setup's overhead, scaled to the measurement when `calibrated` is `overhead`. */
  decodeOverhead: DecodeOverhead;
  /** The setup with the calibrated figures (efficiency 1): plan again with it to predict other models on this machine. */
  calibratedSetup: HardwareSetup;
}

/**
 * Compares a {@link ThroughputMeasurement} with the prediction for the same conditions and derives effective figures
 * (docs/planner.md#--measure-and-calibration):
 * - FLOP/s = measured prefill tokens/s × FLOPs per token;
 * - decode time = overhead + reading time, two unknowns for one measurement, so the prediction's larger part is taken
 *   as the unknown: where the overhead is at least the reading time (tiny models), overhead = measured time − reading
 *   time (both overhead terms scaled alike, so the calibrated overhead carries to other vocabularies), and bandwidth and
 *   FLOP/s stay (such a model's prefill is overhead too); otherwise bandwidth = bytes read per token (weights + KV cache
 *   at the measured position) / (measured time − overhead), and the FLOP/s are the prefill's.
 * For a CPU run they replace the host's figures; for an all-GPU run, the GPU's.
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
  const speedOptions = { promptTokens: measured.promptTokens, contextPositionTokens: position };
  const prediction = predictSpeed(facts, memory, placement, runSetup, speedOptions);
  const effectiveFlops = measured.prefillTokensPerSecond * prediction.prefillFlopsPerToken;
  const onGpu = measured.gpu && setup.gpu !== undefined;
  const withDevice = (base: HardwareSetup, figures: { bandwidthBytesPerSecond?: number; flopsPerSecond: number }): HardwareSetup => {
    const replace = (device: DeviceSpec): DeviceSpec => ({
      ...device,
      ...(figures.bandwidthBytesPerSecond === undefined
        ? {}
        : { bandwidthBytesPerSecond: figures.bandwidthBytesPerSecond, bandwidthEfficiency: 1 }),
      flopsPerSecond: figures.flopsPerSecond,
      computeEfficiency: 1,
    });
    return onGpu && base.gpu ? { ...base, gpu: replace(base.gpu) } : { ...base, host: replace(base.host) };
  };

  const step = prediction.decodeStep;
  const readingSeconds = step.seconds - step.overheadSeconds;
  const measuredSeconds = 1 / measured.decodeTokensPerSecond;
  const overhead = setup.decodeOverhead ?? defaultDecodeOverhead;
  const bytesPerToken = prediction.decodeBytesPerToken.gpu + prediction.decodeBytesPerToken.host;
  const device = onGpu ? setup.gpu! : setup.host;
  const setupBandwidth = device.bandwidthBytesPerSecond * device.bandwidthEfficiency;
  // A tiny model measured faster than the assumed overhead still tells the overhead (it is then smaller), as long as
  // the measurement leaves time for the reading.
  const calibrated = readingSeconds < step.overheadSeconds && measuredSeconds > readingSeconds ? "overhead" : "bandwidth";
  let decodeOverhead: DecodeOverhead = overhead;
  let effectiveBandwidth = setupBandwidth;
  let overheadSeconds = step.overheadSeconds;
  if (calibrated === "overhead") {
    overheadSeconds = measuredSeconds - readingSeconds;
    const scale = overheadSeconds / step.overheadSeconds;
    decodeOverhead = { stepSeconds: overhead.stepSeconds * scale, vocabularyEntrySeconds: overhead.vocabularyEntrySeconds * scale };
  } else {
    // A measurement faster than the overhead alone leaves no time for reading: then the overhead is taken as 0.
    const rest = measuredSeconds > step.overheadSeconds ? measuredSeconds - step.overheadSeconds : measuredSeconds;
    if (rest === measuredSeconds) {
      overheadSeconds = 0;
      decodeOverhead = { stepSeconds: 0, vocabularyEntrySeconds: 0 };
    }
    effectiveBandwidth = bytesPerToken / rest;
  }
  const calibratedSetup: HardwareSetup = {
    // A model whose decode is mostly overhead prefills mostly overhead too: its FLOP/s say nothing of the roofline.
    ...(calibrated === "bandwidth"
      ? withDevice(setup, { bandwidthBytesPerSecond: effectiveBandwidth, flopsPerSecond: effectiveFlops })
      : setup),
    decodeOverhead,
    sources: [
      ...setup.sources,
      calibrated === "bandwidth"
        ? `${onGpu ? "GPU bandwidth and FLOP/s" : "RAM bandwidth and CPU FLOP/s"}: calibrated by --measure (${measured.threads} threads)`
        : `per-token overhead: calibrated by --measure (${measured.threads} threads); bandwidth and FLOP/s as before`,
    ],
  };
  return {
    measured,
    predictedDecodeTokensPerSecond: prediction.decodeTokensPerSecond,
    predictedPrefillTokensPerSecond: prediction.prefillTokensPerSecond,
    decodeRatio: measured.decodeTokensPerSecond / prediction.decodeTokensPerSecond,
    prefillRatio: measured.prefillTokensPerSecond / prediction.prefillTokensPerSecond,
    calibrated,
    effectiveBandwidthBytesPerSecond: effectiveBandwidth,
    effectiveFlopsPerSecond: effectiveFlops,
    decodeOverheadSeconds: overheadSeconds,
    decodeOverhead,
    calibratedSetup,
  };
}
