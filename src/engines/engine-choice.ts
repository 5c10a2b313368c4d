import { MoestroError } from "../errors/index.js";
import { createPlan } from "../planner/plan.js";
import type { PlacementKind } from "../planner/placement.js";
import { readModelFacts } from "../planner/read-model-facts.js";
import type { HardwareSetup } from "../planner/hardware.js";
import type { EngineKind, PlacementInfo } from "../spec/index.js";
import { estimateTokenizerProcessBytes } from "./inproc/memory-estimate.js";

/** What the engine choice for one model needs to know. */
export interface EngineChoiceInput {
  /** What the config asks for (models[].engine, else engine.kind). */
  requested: "auto" | "inproc" | "llama-server";
  /** Whether this process runs llama.cpp on a GPU. */
  hasGpu: boolean;
  /** Whether a llama-server binary is available (configured, or built by `moestro engine build`). */
  binaryAvailable: boolean;
  /** The planner's placement of the model on this machine (only asked for with a GPU). */
  plannedPlacement: () => Promise<{ kind: PlacementKind; gpuLayers: number; cpuMoeLayers: number; description: string }>;
  /** Per-model overrides (models[].gpuLayers, models[].cpuMoeLayers). */
  overrides?: { gpuLayers?: number; cpuMoeLayers?: number };
  /** The model's id, in messages. */
  modelId: string;
}

/** Which engine serves a model, where its weights go, and why (for the log). */
export interface EngineChoice {
  kind: EngineKind;
  placement: PlacementInfo;
  /** One line: why this engine. */
  reason: string;
  /** A line to log at warn level: the model would need a worker and no binary exists. */
  warning?: string;
}

/** The command that builds a worker binary, in messages. */
export const engineBuildCommand = "moestro engine build";

/**
 * Chooses the engine of one model (docs/engines.md#choosing-the-engine):
 * - `inproc` and `llama-server` are taken as asked (`llama-server` needs a binary);
 * - `auto` uses a worker where the plan needs what the in-process engine cannot do, routed experts in RAM while the
 *   rest sits on the GPU (placement `gpu-cpu-experts`, or a `cpuMoeLayers` override) or only some layers on the GPU
 *   (`gpu-cpu-layers`; node-llama-cpp can do this one too, but llama-server's loop costs less per token on a GPU),
 *   and a binary is available; otherwise in-process, and always in-process on a machine without a GPU, where the two
 *   engines are at parity on models whose tokens cost milliseconds (docs/engines.md) and in-process needs no binary.
 *
 * Placement: per-model overrides win; else the plan's on a GPU; else CPU only.
 *
 * @throws {MoestroError} `invalid_request` when `llama-server` is asked for and no binary is available, naming the command
 *   that builds one.
 */
export async function chooseEngine(input: EngineChoiceInput): Promise<EngineChoice> {
  const cpuOnly: PlacementInfo = { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 };
  const overridden = (placement: PlacementInfo): PlacementInfo => {
    const gpuLayers = input.overrides?.gpuLayers ?? placement.gpuLayers;
    const cpuMoeLayers = input.overrides?.cpuMoeLayers ?? placement.cpuMoeLayers;
    if (gpuLayers === placement.gpuLayers && cpuMoeLayers === placement.cpuMoeLayers) return placement;
    return { description: describePlacement(gpuLayers, cpuMoeLayers), gpuLayers, cpuMoeLayers };
  };
  if (input.requested === "inproc") return { kind: "inproc", placement: cpuOnly, reason: "engine inproc asked for" };
  const planned = input.hasGpu ? await input.plannedPlacement() : undefined;
  const placement = overridden(
    planned ? { description: planned.description, gpuLayers: planned.gpuLayers, cpuMoeLayers: planned.cpuMoeLayers } : cpuOnly,
  );
  if (input.requested === "llama-server") {
    if (!input.binaryAvailable) {
      throw new MoestroError(
        "invalid_request",
        `model '${input.modelId}' is to be served by a llama-server worker, and there is no llama-server binary: build one with \`${engineBuildCommand}\` (about 15 minutes on 2 cores), or give one with --llama-server PATH.`,
        { param: "engine" },
      );
    }
    return { kind: "llama-server", placement, reason: "engine llama-server asked for" };
  }
  if (!input.hasGpu) return { kind: "inproc", placement: cpuOnly, reason: "auto: no GPU, in-process" };
  const needsWorker = placement.cpuMoeLayers > 0 || planned?.kind === "gpu-cpu-experts" || planned?.kind === "gpu-cpu-layers";
  if (!needsWorker) return { kind: "inproc", placement: cpuOnly, reason: `auto: the plan (${placement.description}) runs in-process` };
  if (!input.binaryAvailable) {
    return {
      kind: "inproc",
      placement: cpuOnly,
      reason: "auto: a worker is needed and no binary exists",
      warning: `model '${input.modelId}' needs a llama-server worker for its placement (${placement.description}); there is none, so it runs in-process without it. Build one with \`${engineBuildCommand}\`.`,
    };
  }
  return { kind: "llama-server", placement, reason: `auto: the plan (${placement.description}) needs a worker` };
}

/** A placement in words, from its llama.cpp numbers. */
export function describePlacement(gpuLayers: number, cpuMoeLayers: number): string {
  if (gpuLayers === 0) return "CPU only";
  if (cpuMoeLayers > 0) return `${gpuLayers} layers on the GPU, routed experts of the first ${cpuMoeLayers} layers in RAM`;
  return `${gpuLayers} layers on the GPU`;
}

/** The planner's placement of a model on this machine, and the memory it needs there. */
export interface WorkerPlan {
  kind: PlacementKind;
  gpuLayers: number;
  cpuMoeLayers: number;
  description: string;
  /** RAM plus VRAM of the worker (weights, KV cache, compute buffers), bytes. */
  workerBytes: number;
  /** Tokens of the model's vocabulary. */
  vocabularyTokens: number;
}

/**
 * Plans a model on this machine with the planner (`createPlan`): its placement and the worker's memory (RAM plus
 * VRAM), for `contextTokens × parallel` of KV cache. Reads the GGUF header only.
 *
 * @throws what `readModelFacts` throws for an unreadable file.
 */
export async function planOnThisMachine(
  modelPath: string,
  setup: HardwareSetup,
  shape: { contextTokens?: number; parallel: number; batchSize: number },
): Promise<WorkerPlan> {
  const facts = await readModelFacts(modelPath, { detectChat: false });
  const plan = createPlan(facts, setup, { contextTokens: shape.contextTokens, sequences: shape.parallel, batchTokens: shape.batchSize });
  const placement = plan.placement;
  return {
    kind: placement.kind,
    gpuLayers: placement.gpuLayers,
    cpuMoeLayers: placement.cpuExpertLayers,
    description: placement.description,
    workerBytes: placement.host.totalBytes + (placement.gpu?.totalBytes ?? 0),
    vocabularyTokens: facts.vocabularySize,
  };
}

/**
 * The memory a worker model takes, bytes: the worker's (the plan's estimate), its host-RAM prompt cache
 * (`--cache-ram`), and on moestro's side the vocabulary-only model and the tokenizer process
 * (`estimateTokenizerProcessBytes`; the vocabulary copy in this process is counted at the same 1,100 bytes per token).
 */
export function workerMemoryBytes(workerBytes: number, cacheRamBytes: number, vocabularyTokens: number): number {
  return workerBytes + cacheRamBytes + estimateTokenizerProcessBytes(vocabularyTokens) + 1100 * vocabularyTokens;
}
