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

/** Options of {@link AcceptanceWatch}. */
export interface AcceptanceWatchOptions {
  /** The model's id, for the warning. */
  modelId: string;
  /** The share of drafted tokens below which the worker is warned about (`speculative.minAcceptance`, default 0.3). */
  minAcceptance: number;
  /** Drafted tokens per window: the acceptance is judged over each window of this many (default 512). */
  windowTokens?: number;
  /** Least time between two warnings, ms (default 10 minutes). */
  warnEveryMs?: number;
  /** Called with the warning's fields and text. */
  warn: (fields: { model: string; acceptance: number; draftTokens: number; acceptedDraftTokens: number }, message: string) => void;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * Watches a speculating worker's acceptance and warns when speculation slows it down. llama-server has no back-off (the
 * in-process engine's `BackOff` stops drafting after failed drafts): a worker keeps checking every draft, so a draft
 * model that predicts nothing made a worker 0.11x as fast as a plain one (docs/bench.md, "On llama-server workers").
 * moestro cannot switch the worker's speculation per request in this build, so it says so instead: each time a window
 * of `windowTokens` drafted tokens is accepted below `minAcceptance`, at most once per `warnEveryMs`, it logs a warning
 * that names the acceptance and the remedy (drop `speculative`, pick a draft of the same family, or serve the model in
 * process, where speculation backs off). `/metrics` has the same figure as `moestro_draft_acceptance_ratio`.
 */
export class AcceptanceWatch {
  readonly #options: Required<Omit<AcceptanceWatchOptions, "now">> & { now: () => number };
  #drafted = 0;
  #accepted = 0;
  #warnedAtMs: number | undefined;

  constructor(options: AcceptanceWatchOptions) {
    this.#options = { windowTokens: 512, warnEveryMs: 600_000, now: Date.now, ...options };
  }

  /** Adds one generation's drafted and accepted tokens; warns when a window closes below the threshold. */
  record(draftTokens: number, acceptedDraftTokens: number): void {
    this.#drafted += draftTokens;
    this.#accepted += acceptedDraftTokens;
    if (this.#drafted < this.#options.windowTokens) return;
    const acceptance = this.#accepted / this.#drafted;
    const window = { draftTokens: this.#drafted, acceptedDraftTokens: this.#accepted };
    this.#drafted = 0;
    this.#accepted = 0;
    if (acceptance >= this.#options.minAcceptance) return;
    const nowMs = this.#options.now();
    if (this.#warnedAtMs !== undefined && nowMs - this.#warnedAtMs < this.#options.warnEveryMs) return;
    this.#warnedAtMs = nowMs;
    const model = this.#options.modelId;
    this.#options.warn(
      { model, acceptance, ...window },
      `speculative decoding is slowing model '${model}' down: its llama-server worker had ${window.acceptedDraftTokens} of its last ${window.draftTokens} drafted tokens accepted (${(acceptance * 100).toFixed(0)}%, below minAcceptance ${this.#options.minAcceptance}), and a worker cannot back off; remove models[].speculative, use a draft model of the same family, or serve the model in process (engine.kind inproc), where speculation backs off`,
    );
  }
}
