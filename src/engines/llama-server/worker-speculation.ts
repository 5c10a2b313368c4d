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
 * speculate unless they ask cannot speculate at all. `minAcceptance` applies through {@link AcceptanceWatch} (a restart
 * without speculation), not in llama-server.
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

/** A window of drafted tokens that {@link AcceptanceWatch} judged. */
export interface AcceptanceWindow {
  /** The model's id. */
  model: string;
  /** `acceptedDraftTokens / draftTokens`, 0 to 1. */
  acceptance: number;
  /**
   * Drafted tokens in the window: at least `windowTokens`, and at most one report's more (a stream reports its counts
   * after each step, so a window overshoots by less than one step's tokens per stream that reported at once).
   */
  draftTokens: number;
  /** Of them, those accepted. */
  acceptedDraftTokens: number;
}

/** The default window of {@link AcceptanceWatch}, drafted tokens: 32 steps of 16 drafted tokens (a draft model's default). */
export const defaultBackOffWindowTokens = 512;

/** Options of {@link AcceptanceWatch}. */
export interface AcceptanceWatchOptions {
  /** The model's id, for the messages. */
  modelId: string;
  /** The share of drafted tokens below which a window fails (`speculative.minAcceptance`, default 0.3); 0 never fails. */
  minAcceptance: number;
  /** Drafted tokens per window: the acceptance is judged over each window of this many. Defaults to 512. */
  windowTokens?: number;
  /**
   * What a failed window does (`speculative.backOff`):
   * - `true`: calls `backOff` once, and the watch ends (the worker is restarted without speculation);
   * - `false`: calls `warn`, at most once per `warnEveryMs`, and goes on watching.
   *
   * Defaults to true.
   */
  backOff?: boolean;
  /** Least time between two warnings, ms (`backOff: false`). Defaults to 10 minutes. */
  warnEveryMs?: number;
  /** Called with the failed window and the warning's text (`backOff: false`). */
  warn: (window: AcceptanceWindow, message: string) => void;
  /** Called once with the first failed window and the warning's text (`backOff: true`); the caller restarts the worker. */
  onBackOff?: (window: AcceptanceWindow, message: string) => void;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * Watches a speculating worker's acceptance and backs its speculation off when it slows the worker down. llama-server
 * cannot stop drafting (the in-process engine's `BackOff` pauses it) and this build compiled its per-request
 * speculative fields out, so a draft model that predicts nothing made a worker 0.11x as fast as a plain one
 * (docs/bench.md, "On llama-server workers"). The watch sums the drafted and accepted tokens the worker's streams
 * report as they go (step by step, {@link StreamDraftCounts}), not only when a stream ends, so that one long generation
 * with a bad draft is judged within its first `windowTokens` drafted tokens; when a window of
 * `windowTokens` drafted tokens is accepted below `minAcceptance`, it calls `onBackOff` once (the backend restarts the
 * worker without speculation, for good: a worker that does not draft cannot measure acceptance) and stops; with
 * `backOff: false` it warns instead, at most once per `warnEveryMs`, naming the remedies. `/metrics` has the
 * acceptance as `moestro_draft_acceptance_ratio`.
 */
export class AcceptanceWatch {
  readonly #options: Required<Omit<AcceptanceWatchOptions, "now" | "onBackOff">> &
    Pick<AcceptanceWatchOptions, "onBackOff"> & { now: () => number };
  #drafted = 0;
  #accepted = 0;
  #warnedAtMs: number | undefined;
  #backedOff = false;

  constructor(options: AcceptanceWatchOptions) {
    // `??`, not a spread over defaults: a field given as `undefined` (an unset config key) takes the default.
    this.#options = {
      ...options,
      windowTokens: options.windowTokens ?? defaultBackOffWindowTokens,
      backOff: options.backOff ?? true,
      warnEveryMs: options.warnEveryMs ?? 600_000,
      now: options.now ?? Date.now,
    };
  }

  /** Whether the watch backed off (it then ignores what it is told). */
  get backedOff(): boolean {
    return this.#backedOff;
  }

  /**
   * Adds drafted and accepted tokens (what a stream reported since its previous report: one step's, or a few); judges
   * the window when it is full.
   *
   * @returns `back-off` when this window made the watch back off (`onBackOff` was called), `warn` when it warned,
   *   `undefined` otherwise (the window is not full, it passed, or a warning was due but held back by `warnEveryMs`).
   */
  record(draftTokens: number, acceptedDraftTokens: number): "back-off" | "warn" | undefined {
    if (this.#backedOff) return undefined;
    this.#drafted += draftTokens;
    this.#accepted += acceptedDraftTokens;
    if (this.#drafted < this.#options.windowTokens) return undefined;
    const model = this.#options.modelId;
    const window: AcceptanceWindow = {
      model,
      acceptance: this.#accepted / this.#drafted,
      draftTokens: this.#drafted,
      acceptedDraftTokens: this.#accepted,
    };
    this.#drafted = 0;
    this.#accepted = 0;
    if (window.acceptance >= this.#options.minAcceptance) return undefined;
    const accepted = `${window.acceptedDraftTokens} of its last ${window.draftTokens} drafted tokens accepted (${(window.acceptance * 100).toFixed(0)}%, below minAcceptance ${this.#options.minAcceptance})`;
    if (this.#options.backOff) {
      this.#backedOff = true;
      this.#options.onBackOff?.(
        window,
        `speculative decoding is switched off on model '${model}': its llama-server worker had ${accepted}; the worker is restarted without speculation once its requests in flight finish, and stays so until the model is reloaded (a worker that does not draft cannot measure acceptance). Use a draft model of the same family, or serve the model in process (engine.kind inproc), where speculation pauses and resumes`,
      );
      return "back-off";
    }
    const nowMs = this.#options.now();
    if (this.#warnedAtMs !== undefined && nowMs - this.#warnedAtMs < this.#options.warnEveryMs) return undefined;
    this.#warnedAtMs = nowMs;
    this.#options.warn(
      window,
      `speculative decoding is slowing model '${model}' down: its llama-server worker had ${accepted}, and speculative.backOff is false; remove models[].speculative, use a draft model of the same family, set speculative.backOff true (restart the worker without speculation), or serve the model in process (engine.kind inproc), where speculation backs off`,
    );
    return "warn";
  }
}

/** llama-server's draft counts in a `timings` object (`server_slot_stats::to_json` in tools/server/server-common.cpp). */
export interface DraftTimings {
  /** Tokens drafted since the task started; absent until one was. */
  draft_n?: number;
  /** Of them, those accepted; absent with `draft_n`. */
  draft_n_accepted?: number;
}

/**
 * One stream's drafted and accepted tokens, from the `timings` llama-server sends with its chunks. Each stream is a
 * task of its own whose counts run from 0; with `timings_per_token` every chunk carries them, updated once per step (a
 * step's drafts are counted and checked before its tokens are sent, `update_slots` in tools/server/server-context.cpp),
 * so the chunks of one step repeat the same figures. {@link advance} turns them into what is new since the last report,
 * for {@link AcceptanceWatch}.
 */
export class StreamDraftCounts {
  #draftTokens = 0;
  #acceptedDraftTokens = 0;

  /** Tokens drafted in the stream so far (the last `draft_n` seen; 0 before any). */
  get draftTokens(): number {
    return this.#draftTokens;
  }

  /** Of them, those accepted (the last `draft_n_accepted` seen; 0 before any). */
  get acceptedDraftTokens(): number {
    return this.#acceptedDraftTokens;
  }

  /**
   * Takes a chunk's timings.
   *
   * @returns the tokens drafted and accepted since the previous report; `undefined` when nothing changed (no timings,
   *   no drafts yet, or a chunk of the same step).
   */
  advance(timings: DraftTimings | undefined): { draftTokens: number; acceptedDraftTokens: number } | undefined {
    if (timings?.draft_n === undefined) return undefined;
    const draftTokens = timings.draft_n - this.#draftTokens;
    const acceptedDraftTokens = (timings.draft_n_accepted ?? 0) - this.#acceptedDraftTokens;
    // The counts only grow within a task; anything else is not a new report.
    if (draftTokens < 0 || acceptedDraftTokens < 0 || (draftTokens === 0 && acceptedDraftTokens === 0)) return undefined;
    this.#draftTokens = timings.draft_n;
    this.#acceptedDraftTokens = timings.draft_n_accepted ?? 0;
    return { draftTokens, acceptedDraftTokens };
  }
}
