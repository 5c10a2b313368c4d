import type { HardwareSetup } from "./hardware.js";
import type { MemoryEstimate } from "./memory-estimate.js";
import type { ModelFacts } from "./model-facts.js";
import { formatBytes } from "../util/size-units.js";

/**
 * Where the model sits:
 * - `gpu`: everything on the GPU (the input embedding stays in host RAM, as llama.cpp always keeps it there);
 * - `gpu-cpu-experts`: attention, shared weights, the output head and the KV cache on the GPU; the routed experts of
 *   the first `cpuExpertLayers` layers in host RAM (llama-server `--n-cpu-moe N`);
 * - `gpu-cpu-layers`: the output head and the last `gpuLayers - 1` layers on the GPU, the other layers in host RAM
 *   (llama-server `-ngl N`, for dense models or when even the MoE split does not fit);
 * - `cpu`: everything in host RAM (`-ngl 0`);
 * - `none`: it does not fit anywhere; `reason` says why.
 */
export type PlacementKind = "gpu" | "gpu-cpu-experts" | "gpu-cpu-layers" | "cpu" | "none";

/** Memory a placement puts on one device, in bytes. */
export interface DeviceUsage {
  /** What the device offers after the safety margin (see {@link memoryMarginBytes}). */
  budgetBytes: number;
  weightsBytes: number;
  /** KV cache plus recurrent state. */
  cacheBytes: number;
  /** Compute buffers (and, on the host, the logits buffer). */
  computeBytes: number;
  totalBytes: number;
}

/** A placement and what it costs each device. */
export interface Placement {
  kind: PlacementKind;
  fits: boolean;
  /** Why it does not fit; `undefined` when it fits. */
  reason: string | undefined;
  /** One line for people: "all on the GPU", "experts of 20 of 48 layers in RAM". */
  description: string;
  /** llama.cpp `-ngl`: repeating layers plus the output layer offloaded (layerCount + 1 = all). */
  gpuLayers: number;
  /** llama.cpp `--n-cpu-moe`: layers (from the first) whose routed experts stay in host RAM. */
  cpuExpertLayers: number;
  gpu: DeviceUsage | undefined;
  host: DeviceUsage;
  /** Weight bytes in host RAM that a GPU placement reads over PCIe during prefill (llama.cpp op offload). */
  hostResidentWeightsBytes: number;
  /** Routed-expert bytes in host RAM (all experts, all host layers). */
  hostRoutedExpertBytes: number;
  /** Non-expert layer bytes in host RAM (layers not offloaded). */
  hostLayerOtherBytes: number;
  /** Fraction of the KV cache on the GPU (0 to 1). */
  gpuCacheShare: number;
  /** Whether the output head runs on the GPU. */
  outputOnGpu: boolean;
}

/**
 * Safety margin kept free on each device: 1 GiB (llama.cpp's `--fit` default target, `fit_params_target` in
 * `common/common.h`), or 10% of the device when that is smaller (so that tiny budgets stay usable).
 */
export function memoryMarginBytes(memoryBytes: number): number {
  return Math.min(2 ** 30, Math.floor(memoryBytes * 0.1));
}

function usage(budgetBytes: number, weightsBytes: number, cacheBytes: number, computeBytes: number): DeviceUsage {
  return { budgetBytes, weightsBytes, cacheBytes, computeBytes, totalBytes: weightsBytes + cacheBytes + computeBytes };
}

/**
 * Chooses where a model sits on `setup`, trying in order: all on the GPU; (MoE) routed experts of the first N layers in
 * host RAM, smallest N that fits; the last layers on the GPU, most that fit; CPU only. Each step must fit both the
 * GPU's and the host's budget (memory minus {@link memoryMarginBytes}).
 *
 * Assumptions, from llama.cpp's loader (`src/llama-model.cpp`): the input embedding always stays in host RAM; `-ngl k`
 * offloads the output layer first, then the last k-1 repeating layers; a tied output matrix is copied to the GPU;
 * the KV cache of a layer lives where the layer does; weights in host RAM are memory-mapped and count against RAM.
 * On Apple (`unified`) there is one pool, and the GPU may use {@link HardwareSetup.gpu}'s share of it.
 */
export function planPlacement(facts: ModelFacts, memory: MemoryEstimate, setup: HardwareSetup): Placement {
  const weights = facts.weights;
  const layers = weights.layers;
  const layerCount = layers.length;
  const cacheBytes = memory.kvCacheBytes + memory.recurrentStateBytes;
  const hostBudget = setup.host.memoryBytes - memoryMarginBytes(setup.host.memoryBytes);
  const tiedCopyBytes = weights.tiedOutput ? weights.inputEmbeddingBytes : 0;
  const hostFixedBytes = weights.inputEmbeddingBytes + weights.otherBytes;
  const hostOutputBuffer = memory.outputBufferBytes;
  const notes: string[] = [];

  const cpuOnly = (): Placement => ({
    kind: "cpu",
    fits: true,
    reason: undefined,
    description: "CPU only: all weights and the KV cache in RAM",
    gpuLayers: 0,
    cpuExpertLayers: 0,
    gpu: undefined,
    host: usage(hostBudget, weights.totalBytes, cacheBytes, memory.computeBufferBytes + hostOutputBuffer),
    hostResidentWeightsBytes: weights.totalBytes,
    hostRoutedExpertBytes: weights.routedExpertBytes,
    hostLayerOtherBytes: layers.reduce((sum, layer) => sum + layer.otherBytes, 0),
    gpuCacheShare: 0,
    outputOnGpu: false,
  });

  if (setup.gpu && setup.unified) {
    const gpuBudget = setup.gpu.memoryBytes - memoryMarginBytes(setup.gpu.memoryBytes);
    const total = weights.totalBytes + cacheBytes + memory.computeBufferBytes + hostOutputBuffer;
    const placement: Placement = {
      kind: "gpu",
      fits: total <= gpuBudget,
      reason: undefined,
      description: "all on the GPU (unified memory)",
      gpuLayers: layerCount + 1,
      cpuExpertLayers: 0,
      gpu: usage(gpuBudget, weights.totalBytes, cacheBytes, memory.computeBufferBytes + hostOutputBuffer),
      host: usage(hostBudget, 0, 0, 0),
      hostResidentWeightsBytes: 0,
      hostRoutedExpertBytes: 0,
      hostLayerOtherBytes: 0,
      gpuCacheShare: 1,
      outputOnGpu: true,
    };
    if (placement.fits) return placement;
    return {
      ...placement,
      kind: "none",
      fits: false,
      description: "does not fit",
      reason: `needs ${formatBytes(total)} (weights ${formatBytes(weights.totalBytes)} + KV cache ${formatBytes(cacheBytes)} + buffers ${formatBytes(memory.computeBufferBytes + hostOutputBuffer)}), but the GPU may use only ${formatBytes(gpuBudget)} of ${formatBytes(setup.host.memoryBytes)} unified memory (macOS working-set limit, about 75%; raise it with sudo sysctl iogpu.wired_limit_mb)`,
    };
  }

  if (setup.gpu) {
    const gpuBudget = setup.gpu.memoryBytes - memoryMarginBytes(setup.gpu.memoryBytes);
    const layerBytes = layers.map((layer) => layer.routedExpertBytes + layer.otherBytes);
    const allLayersBytes = layerBytes.reduce((sum, bytes) => sum + bytes, 0);
    const outputGpuBytes = weights.outputBytes + tiedCopyBytes;

    // 1. Everything on the GPU.
    const gpuAll = allLayersBytes + outputGpuBytes;
    const fitsAll = (gpuWeights: number, hostWeights: number, hostCompute: number): boolean =>
      gpuWeights + cacheBytes + memory.computeBufferBytes <= gpuBudget && hostWeights + hostCompute + hostOutputBuffer <= hostBudget;
    if (fitsAll(gpuAll, hostFixedBytes, 0)) {
      return {
        kind: "gpu",
        fits: true,
        reason: undefined,
        description: "all on the GPU",
        gpuLayers: layerCount + 1,
        cpuExpertLayers: 0,
        gpu: usage(gpuBudget, gpuAll, cacheBytes, memory.computeBufferBytes),
        host: usage(hostBudget, hostFixedBytes, 0, hostOutputBuffer),
        hostResidentWeightsBytes: 0,
        hostRoutedExpertBytes: 0,
        hostLayerOtherBytes: 0,
        gpuCacheShare: 1,
        outputOnGpu: true,
      };
    }
    notes.push(
      `all on the GPU needs ${formatBytes(gpuAll + cacheBytes + memory.computeBufferBytes)} of GPU memory, has ${formatBytes(gpuBudget)}`,
    );

    // 2. MoE: experts of the first N layers in host RAM (llama-server --n-cpu-moe N).
    if (facts.moe && weights.routedExpertBytes > 0) {
      let movedBytes = 0;
      for (let n = 1; n <= layerCount; n++) {
        movedBytes += layers[n - 1]!.routedExpertBytes;
        const gpuWeights = gpuAll - movedBytes;
        const hostWeights = hostFixedBytes + movedBytes;
        if (fitsAll(gpuWeights, hostWeights, memory.hostComputeBufferBytes)) {
          return {
            kind: "gpu-cpu-experts",
            fits: true,
            reason: undefined,
            description:
              n === layerCount
                ? "attention, shared weights and KV cache on the GPU; all routed experts in RAM"
                : `attention, shared weights and KV cache on the GPU; routed experts of the first ${n} of ${layerCount} layers in RAM`,
            gpuLayers: layerCount + 1,
            cpuExpertLayers: n,
            gpu: usage(gpuBudget, gpuWeights, cacheBytes, memory.computeBufferBytes),
            host: usage(hostBudget, hostWeights, 0, memory.hostComputeBufferBytes + hostOutputBuffer),
            hostResidentWeightsBytes: movedBytes,
            hostRoutedExpertBytes: movedBytes,
            hostLayerOtherBytes: 0,
            gpuCacheShare: 1,
            outputOnGpu: true,
          };
        }
        if (gpuWeights + cacheBytes + memory.computeBufferBytes <= gpuBudget) {
          notes.push(
            `with the experts of ${n} layers in RAM the GPU fits, but RAM needs ${formatBytes(hostWeights + memory.hostComputeBufferBytes + hostOutputBuffer)}, has ${formatBytes(hostBudget)}`,
          );
          break;
        }
      }
      if (notes.length === 1)
        notes.push(
          `even with every routed expert in RAM the GPU needs ${formatBytes(gpuAll - weights.routedExpertBytes + cacheBytes + memory.computeBufferBytes)}`,
        );
    }

    // 3. The output head and the last k-1 layers on the GPU (llama-server -ngl k).
    for (let k = layerCount; k >= 1; k--) {
      const gpuLayerIndexes = layers.slice(layerCount - (k - 1)).map((layer) => layer.index);
      const gpuLayerBytes = layers
        .filter((layer) => gpuLayerIndexes.includes(layer.index))
        .reduce((sum, layer) => sum + layer.routedExpertBytes + layer.otherBytes, 0);
      const gpuWeights = gpuLayerBytes + outputGpuBytes;
      const hostWeights = weights.totalBytes - gpuLayerBytes - weights.outputBytes;
      const share = layerCount > 0 ? (k - 1) / layerCount : 0;
      const gpuCache = cacheBytes * share;
      const hostCache = cacheBytes - gpuCache;
      if (
        gpuWeights + gpuCache + memory.computeBufferBytes <= gpuBudget &&
        hostWeights + hostCache + memory.hostComputeBufferBytes + hostOutputBuffer <= hostBudget
      ) {
        const hostLayers = layers.filter((layer) => !gpuLayerIndexes.includes(layer.index));
        return {
          kind: "gpu-cpu-layers",
          fits: true,
          reason: undefined,
          description: `output head and the last ${k - 1} of ${layerCount} layers on the GPU; the first ${layerCount - (k - 1)} layers in RAM`,
          gpuLayers: k,
          cpuExpertLayers: 0,
          gpu: usage(gpuBudget, gpuWeights, gpuCache, memory.computeBufferBytes),
          host: usage(hostBudget, hostWeights, hostCache, memory.hostComputeBufferBytes + hostOutputBuffer),
          hostResidentWeightsBytes: hostWeights - hostFixedBytes,
          hostRoutedExpertBytes: hostLayers.reduce((sum, layer) => sum + layer.routedExpertBytes, 0),
          hostLayerOtherBytes: hostLayers.reduce((sum, layer) => sum + layer.otherBytes, 0),
          gpuCacheShare: share,
          outputOnGpu: true,
        };
      }
    }
  }

  // 4. CPU only.
  const cpu = cpuOnly();
  if (cpu.host.totalBytes <= hostBudget) {
    if (setup.gpu) return { ...cpu, description: "CPU only (nothing useful fits on the GPU)" };
    return cpu;
  }
  notes.push(
    `CPU only needs ${formatBytes(cpu.host.totalBytes)} of RAM (weights ${formatBytes(weights.totalBytes)} + KV cache ${formatBytes(cacheBytes)} + buffers ${formatBytes(cpu.host.computeBytes)}), has ${formatBytes(hostBudget)}`,
  );
  return { ...cpu, kind: "none", fits: false, description: "does not fit", reason: notes.join("; ") };
}

/**
 * The llama-server arguments that realise a placement (node-llama-cpp cannot keep experts in RAM while the rest sits
 * on the GPU, docs/engine.md#node-llama-cpp-facts-measured-before-the-project, so MoE splits need llama-server):
 * `-m FILE -c (contextTokens × sequences) -np sequences -ngl N [--n-cpu-moe N]`. llama-server's `-c` is the KV pool
 * shared by all slots, so each slot gets `-c / -np` tokens (tools/server/README.md, `--kv-unified-per-slot`).
 */
export function llamaServerArgs(modelPath: string, placement: Placement, memory: MemoryEstimate): string[] {
  const args = [
    "-m",
    modelPath,
    "-c",
    String(memory.contextTokens * memory.sequences),
    "-np",
    String(memory.sequences),
    "-ngl",
    String(placement.gpuLayers),
  ];
  if (placement.cpuExpertLayers > 0) args.push("--n-cpu-moe", String(placement.cpuExpertLayers));
  return args;
}
