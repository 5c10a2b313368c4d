import type { PlacementInfo, SpeculativeOptions } from "../../spec/index.js";
import { defaultMaxDraftTokens, defaultMinConfidence } from "../inproc/speculation.js";
import type { WorkerSpeculation } from "./worker-args.js";

/**
 * The length of the pattern a worker's prompt lookup searches for (llama.cpp `ngram-simple`'s `size_n`): 3 tokens, the
 * last one sampled included. Measured with `bench:speculative` (worker-lookup and worker-padded-lookup, 8-token drafts):
 * 2 tokens (the in-process predictor's shortest pattern) drafted more and was accepted less, 34% of 1,947 drafted
 * tokens, 1.19x plain decoding on the padded target and 0.56x on stories260K; 3 tokens 43% of 1,383, 1.41x and 0.85x;
 * 4 tokens 49% of 1,071 and 0.81x on stories260K (docs/bench.md). llama.cpp's own default, 12, finds a match only in
 * long repeated passages.
 */
export const workerLookupPatternTokens = 3;

/** What {@link resolveWorkerSpeculation} needs to know of the model. */
export interface WorkerSpeculationModel {
  /** The model's id, for the warning. */
  id: string;
  /** Whether the model keeps a recurrent state (Mamba, Gated DeltaNet; hybrid models included). */
  isRecurrentOrHybrid: boolean;
  /** The model's repeating layers (`block_count`). */
  blockCount: number;
}

/** A worker's speculation, or why it has none. */
export interface ResolvedWorkerSpeculation {
  /** The flags' settings; `undefined` when the worker does not speculate. */
  speculation?: WorkerSpeculation;
  /** Why a configured speculation is not applied, for a warning at load; `undefined` when it is (or none is set). */
  warning?: string;
}

/**
 * Turns models[].speculative into a llama-server worker's speculation (docs/engine.md, "Speculative decoding"):
 * - `ngram`: llama.cpp's `ngram-simple` with a 3-token pattern ({@link workerLookupPatternTokens}; `maxDraftTokens`
 *   when that is smaller) and `maxDraftTokens` (default 3) drafted tokens;
 * - `draft`: llama.cpp's `draft-simple` with `draftModel`, `maxDraftTokens` (default 16) and `minConfidence`
 *   (default 0). The draft model sits on the GPU (all its layers) when the whole target does (`gpuLayers` ≥ its
 *   layers, no experts in RAM), else in RAM: a target that does not fit the GPU whole leaves no room for it there.
 *
 * Not applied, with a warning: on recurrent and hybrid models (the in-process engine's rule: rejected drafted tokens
 * cannot be cut from their state), and with `byDefault: false`, because llama-server speculates for every request or
 * for none (its per-request speculative fields are compiled out in this build), so a model whose requests should not
 * speculate unless they ask cannot speculate at all. `minAcceptance` has no llama-server equivalent (no back-off).
 */
export function resolveWorkerSpeculation(
  speculative: SpeculativeOptions | undefined,
  model: WorkerSpeculationModel,
  placement: Pick<PlacementInfo, "gpuLayers" | "cpuMoeLayers">,
): ResolvedWorkerSpeculation {
  if (speculative === undefined) return {};
  if (model.isRecurrentOrHybrid) {
    return {
      warning: `speculative decoding is not applied to model '${model.id}': it is recurrent or hybrid, and its state cannot drop rejected drafted tokens`,
    };
  }
  if (speculative.byDefault === false) {
    return {
      warning: `speculative decoding is not applied to model '${model.id}': its llama-server worker speculates for every request or for none, and speculative.byDefault is false (a request's speculative: true cannot turn it on)`,
    };
  }
  if (speculative.type === "ngram") {
    const maxDraftTokens = speculative.maxDraftTokens ?? defaultMaxDraftTokens.ngram;
    // ngram-simple drafts nothing when fewer tokens than the pattern's length would be drafted (`common_ngram_simple_draft`
    // in common/ngram-map.cpp): a shorter draft length shortens the pattern.
    return { speculation: { type: "ngram", maxDraftTokens, patternTokens: Math.min(workerLookupPatternTokens, maxDraftTokens) } };
  }
  const wholeOnGpu = placement.gpuLayers > 0 && placement.gpuLayers >= model.blockCount && placement.cpuMoeLayers === 0;
  return {
    speculation: {
      type: "draft",
      draftModelPath: speculative.draftModel!,
      maxDraftTokens: speculative.maxDraftTokens ?? defaultMaxDraftTokens.draft,
      minConfidence: speculative.minConfidence ?? defaultMinConfidence,
      gpuLayers: wholeOnGpu ? "all" : 0,
    },
  };
}
