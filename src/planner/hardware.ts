import { MoestroError } from "../errors/index.js";
import { findHardware, hardwareCatalog, type HardwareCatalogEntry } from "./hardware-catalog.js";
import { formatBandwidth, formatSignificant } from "../util/size-units.js";

/**
 * One memory-and-compute device of a plan: a GPU, or the host (CPU and RAM).
 *
 * Effective figures are peak × efficiency. Catalog figures are peaks, with the default efficiencies of
 * {@link defaultEfficiencies}; measured or calibrated figures carry an efficiency of 1.
 */
export interface DeviceSpec {
  name: string;
  /** Memory the device offers, in bytes. */
  memoryBytes: number;
  /** Peak (or measured) memory bandwidth, in bytes per second. */
  bandwidthBytesPerSecond: number;
  /** Fraction of `bandwidthBytesPerSecond` that llama.cpp's decode reaches (0 < x ≤ 1). */
  bandwidthEfficiency: number;
  /** Peak (or measured) dense FLOP/s. */
  flopsPerSecond: number;
  /** Fraction of `flopsPerSecond` that llama.cpp's prefill reaches (0 < x ≤ 1). */
  computeEfficiency: number;
  /** Typical power draw, in watts, when known. */
  powerWatts: number | undefined;
}

/**
 * The hardware a plan is made for.
 *
 * - `gpu` + `host`: a discrete GPU beside host RAM; weights and KV cache may be split between them.
 * - `unified`: an Apple-style single pool; `gpu` is that pool as the GPU sees it and `host` is the same memory.
 * - no `gpu`: CPU only.
 */
export interface HardwareSetup {
  /** Catalog id, or `this-machine`, or `custom`. */
  id: string;
  name: string;
  gpu: DeviceSpec | undefined;
  host: DeviceSpec;
  unified: boolean;
  /** Host-to-GPU bandwidth per direction (PCIe), in bytes per second, when there is a discrete GPU. */
  hostToGpuBytesPerSecond: number | undefined;
  /**
   * Typical power draw for the cost estimate, in watts: the GPU's board power when there is a discrete GPU (the host
   * mostly waits while the GPU decodes; pass `--watts` for the whole box), the machine's for Apple and CPU-only setups.
   * `undefined` when unknown.
   */
  powerWatts: number | undefined;
  /** Where each figure came from, one line each, printed with the plan. */
  sources: string[];
  /**
   * Catalog id of the GPU class whose figures stand in for a GPU the user gave only by its memory (`--vram` on a setup
   * without a GPU): see {@link defaultGpuClassId}. Absent when the GPU's figures are its own.
   */
  assumedGpuClass?: string;
  /** The decode step's fixed costs. Defaults to {@link defaultDecodeOverhead}; `--measure` sets this machine's. */
  decodeOverhead?: DecodeOverhead;
}

/**
 * What a decode step costs beside reading weights and multiplying them: building and launching the graph, the threads'
 * synchronisation, copying the logits out, sampling, the engine's own loop. It dominates tiny models (stories260K reads
 * 1 MB per token: 0.05 ms at 20 GB/s, but decodes in 0.8 ms) and vanishes beside big ones.
 */
export interface DecodeOverhead {
  /** Seconds per decode step, whatever the model. */
  stepSeconds: number;
  /** Seconds per vocabulary entry for each sequence sampled in the step (the logits row and the sampler's candidates). */
  vocabularyEntrySeconds: number;
}

/**
 * The per-token overhead assumed when `--measure` has not measured this machine: 0.85 ms per decode step plus 8 ns per
 * vocabulary entry per sequence (2.07 ms for one sequence of a 151,936-token Qwen3 vocabulary, 0.85 ms for a 512-token
 * one). Fitted to node-llama-cpp's decode of the tiny test models (stories260K, its Q8_0 and MoE variants,
 * aidreams260K, tiny-qwen3moe, tiny-qwen35moe) on 1 thread of the 2-core development machine; the figures are in
 * docs/planner.md#per-token-overhead. A fast desktop core, and llama-server (about 0.7 ms less per token here,
 * docs/engine.md), take less.
 */
export const defaultDecodeOverhead: Readonly<DecodeOverhead> = Object.freeze({ stepSeconds: 0.85e-3, vocabularyEntrySeconds: 8e-9 });

/**
 * Seconds of overhead in one decode step of `sequences` sequences over a `vocabularySize`-entry vocabulary:
 * `stepSeconds + sequences × vocabularySize × vocabularyEntrySeconds`.
 */
export function decodeOverheadSeconds(overhead: DecodeOverhead, sequences: number, vocabularySize: number): number {
  return overhead.stepSeconds + sequences * vocabularySize * overhead.vocabularyEntrySeconds;
}

/**
 * The catalog GPU whose bandwidth, FLOP/s and PCIe link stand in for a GPU given only by its memory
 * (`moestro plan --vram 24GiB` on a machine without one): the RTX 4090, the most common 24 GB card that people plan
 * for. `--vram-bandwidth` replaces its bandwidth; `--hardware` picks another class.
 */
export const defaultGpuClassId = "rtx-4090";

/**
 * Default fractions of peak that llama.cpp reaches, used with catalog peaks (assumptions; `--measure` calibrates this
 * machine). Each comes from published llama.cpp benchmarks, whose figures are in docs/planner.md#speed:
 * - CPU decode 0.65 of the DDR5 channels' peak, CPU prefill 0.3 of the FP32 FMA peak (a 13900K, llama.cpp issue #34);
 * - Apple unified memory 0.5 (llama.cpp's M-series benchmark, discussion #4167);
 * - NVIDIA GPU decode 0.6 (llama.cpp's single-GPU token generation);
 * - prefill 0.2 of the BF16 dense peak on GPUs and Apple. Quantized and MoE (`mul_mat_id`) kernels vary widely by GPU
 *   generation, so the prefill figures are the roughest of the plan.
 */
export const defaultEfficiencies = Object.freeze({
  gpuBandwidth: 0.6,
  gpuCompute: 0.2,
  unifiedBandwidth: 0.5,
  unifiedCompute: 0.2,
  cpuBandwidth: 0.65,
  cpuCompute: 0.3,
});

/** A {@link DeviceSpec} from a catalog entry, with the default efficiency of its kind. */
export function deviceFromCatalog(entry: HardwareCatalogEntry): DeviceSpec {
  return {
    name: entry.name,
    memoryBytes: entry.memoryBytes,
    bandwidthBytesPerSecond: entry.bandwidthBytesPerSecond,
    bandwidthEfficiency: defaultEfficiencies[`${entry.kind}Bandwidth`],
    flopsPerSecond: entry.denseFlopsPerSecond,
    computeEfficiency: defaultEfficiencies[`${entry.kind}Compute`],
    powerWatts: entry.typicalPowerWatts,
  };
}

/**
 * Builds the {@link HardwareSetup} of a catalog entry: a GPU with its default host, an Apple machine as one unified pool
 * (the GPU may wire about 75% of it, see {@link unifiedGpuShare}), or a CPU-only host.
 *
 * @throws {MoestroError} `invalid_request` when `name` is not in the catalog (the message lists the ids).
 */
export function setupFromCatalog(name: string): HardwareSetup {
  const entry = findHardware(name);
  if (entry === undefined) {
    throw new MoestroError("invalid_request", `Unknown hardware '${name}'. Known: ${hardwareCatalog.map((item) => item.id).join(", ")}.`, {
      param: "hardware",
    });
  }
  const sources = [`${entry.id}: ${entry.source}`];
  switch (entry.kind) {
    case "gpu": {
      const hostEntry = findHardware(entry.defaultHostId ?? "ddr5-8ch")!;
      sources.push(`${hostEntry.id}: ${hostEntry.source}`);
      return {
        id: entry.id,
        name: `${entry.name} + ${hostEntry.name}`,
        gpu: deviceFromCatalog(entry),
        host: deviceFromCatalog(hostEntry),
        unified: false,
        hostToGpuBytesPerSecond: entry.hostToGpuBytesPerSecond,
        powerWatts: entry.typicalPowerWatts,
        sources,
      };
    }
    case "unified": {
      const device = deviceFromCatalog(entry);
      return {
        id: entry.id,
        name: entry.name,
        gpu: { ...device, memoryBytes: Math.floor(entry.memoryBytes * unifiedGpuShare) },
        host: device,
        unified: true,
        hostToGpuBytesPerSecond: undefined,
        powerWatts: entry.typicalPowerWatts,
        sources,
      };
    }
    case "cpu":
      return {
        id: entry.id,
        name: entry.name,
        gpu: undefined,
        host: deviceFromCatalog(entry),
        unified: false,
        hostToGpuBytesPerSecond: undefined,
        powerWatts: entry.typicalPowerWatts,
        sources,
      };
    default:
      return entry.kind satisfies never;
  }
}

/**
 * Share of unified memory the GPU may use on macOS: Metal's `recommendedMaxWorkingSetSize`, which llama.cpp logs at
 * start-up, is about 75% of RAM on Apple Silicon with more than 36 GB (raise it with `sudo sysctl
 * iogpu.wired_limit_mb=…`).
 */
export const unifiedGpuShare = 0.75;

/** Overrides of a setup's figures, from `plan` flags. Each undefined field keeps the setup's value. */
export interface HardwareOverrides {
  /** Host RAM, in bytes (`--ram`). */
  ramBytes?: number;
  /** GPU memory, in bytes (`--vram`); 0 removes the GPU. */
  vramBytes?: number;
  /** Host (or unified) memory bandwidth, in bytes per second, taken as effective (`--mem-bandwidth`). */
  memBandwidthBytesPerSecond?: number;
  /** GPU memory bandwidth, in bytes per second, taken as effective (`--vram-bandwidth`). */
  vramBandwidthBytesPerSecond?: number;
  /** Total power draw, in watts (`--watts`). */
  powerWatts?: number;
}

/**
 * Applies {@link HardwareOverrides}. A bandwidth given by the user is taken as what llama.cpp reaches (efficiency 1).
 * `vramBytes` on a setup without a GPU adds one: its memory is `vramBytes`, its FLOP/s, PCIe link and (without
 * `vramBandwidthBytesPerSecond`) its bandwidth those of the {@link defaultGpuClassId} class, which the setup names in
 * `assumedGpuClass` and in a source line. Fit and placement need only the memory; the speeds carry the assumption.
 */
export function applyHardwareOverrides(setup: HardwareSetup, overrides: HardwareOverrides): HardwareSetup {
  const sources = [...setup.sources];
  let host: DeviceSpec = { ...setup.host };
  let gpu: DeviceSpec | undefined = setup.gpu ? { ...setup.gpu } : undefined;
  let assumedGpuClass = setup.assumedGpuClass;
  let hostToGpuBytesPerSecond = setup.hostToGpuBytesPerSecond;
  if (overrides.ramBytes !== undefined) {
    host.memoryBytes = overrides.ramBytes;
    if (setup.unified && gpu) gpu.memoryBytes = Math.floor(overrides.ramBytes * unifiedGpuShare);
    sources.push("memory: --ram");
  }
  if (overrides.memBandwidthBytesPerSecond !== undefined) {
    host = { ...host, bandwidthBytesPerSecond: overrides.memBandwidthBytesPerSecond, bandwidthEfficiency: 1 };
    if (setup.unified && gpu) gpu = { ...gpu, bandwidthBytesPerSecond: overrides.memBandwidthBytesPerSecond, bandwidthEfficiency: 1 };
    sources.push("memory bandwidth: --mem-bandwidth (taken as effective)");
  }
  if (overrides.vramBytes !== undefined) {
    if (overrides.vramBytes === 0) {
      gpu = undefined;
      assumedGpuClass = undefined;
    } else if (gpu) gpu.memoryBytes = overrides.vramBytes;
    else {
      const classEntry = findHardware(defaultGpuClassId)!;
      const classDevice = deviceFromCatalog(classEntry);
      gpu = { ...classDevice, name: "GPU (from flags)", memoryBytes: overrides.vramBytes, powerWatts: undefined };
      assumedGpuClass = classEntry.id;
      hostToGpuBytesPerSecond = classEntry.hostToGpuBytesPerSecond;
      sources.push(
        overrides.vramBandwidthBytesPerSecond === undefined
          ? `GPU: --vram without --vram-bandwidth: speeds assume an ${classEntry.name}-class GPU (catalog ${classEntry.id}: ${formatBandwidth(classDevice.bandwidthBytesPerSecond)} × ${classDevice.bandwidthEfficiency}, ${formatSignificant(classDevice.flopsPerSecond / 1e12)} TFLOP/s × ${classDevice.computeEfficiency}, PCIe ${formatBandwidth(classEntry.hostToGpuBytesPerSecond ?? 32e9)}); give --vram-bandwidth or --hardware for yours`
          : `GPU: --vram and --vram-bandwidth; FLOP/s and PCIe of an ${classEntry.name}-class GPU assumed (catalog ${classEntry.id}: ${formatSignificant(classDevice.flopsPerSecond / 1e12)} TFLOP/s × ${classDevice.computeEfficiency})`,
      );
    }
    sources.push("GPU memory: --vram");
  }
  if (overrides.vramBandwidthBytesPerSecond !== undefined && gpu) {
    gpu = { ...gpu, bandwidthBytesPerSecond: overrides.vramBandwidthBytesPerSecond, bandwidthEfficiency: 1 };
    if (!sources.some((line) => line.startsWith("GPU: --vram"))) sources.push("GPU bandwidth: --vram-bandwidth (taken as effective)");
  }
  if (overrides.powerWatts !== undefined) sources.push("power: --watts");
  // Removing the GPU leaves the host's power; adding one from flags leaves it unknown.
  const powerWatts = overrides.powerWatts ?? (setup.gpu && !gpu ? setup.host.powerWatts : !setup.gpu && gpu ? undefined : setup.powerWatts);
  const result: HardwareSetup = {
    ...setup,
    gpu,
    host,
    unified: setup.unified && gpu !== undefined,
    hostToGpuBytesPerSecond: gpu && !setup.unified ? (hostToGpuBytesPerSecond ?? 32e9) : undefined,
    powerWatts,
    sources,
  };
  if (assumedGpuClass !== undefined && gpu !== undefined) result.assumedGpuClass = assumedGpuClass;
  else delete result.assumedGpuClass;
  return result;
}
