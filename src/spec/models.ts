/**
 * The contract between the API layer and whatever decides which models are loaded: the model registry, the entries it
 * serves, and the lease a request holds. Implemented by the model scheduler (`src/engines/model-scheduler.ts`) for
 * every engine kind. Types only.
 */
import type { EngineDetails, ModelBackend } from "./generate.js";

/** A model the registry can serve: configured with `--model`, or pulled into the store. */
export interface ModelEntry {
  /** The id clients send as `model`. */
  id: string;
  /** Other names that reach it (config aliases, such as `qwen3:30b-a3b`). */
  aliases?: readonly string[];
  /** Path of the GGUF file (the first part of a split model); `""` for a model served by upstreams. */
  path: string;
  /** Where it comes from: `--model`, the store, or the upstreams that serve it (docs/gateway.md). */
  source: "config" | "store" | "upstream";
  /** Whether it thinks by default (models[].thinking). */
  thinking?: boolean;
  /** Per-model engine settings (models[].engine, gpuLayers, cpuMoeLayers, extraArgs); config models only. */
  engine?: { kind?: "auto" | "inproc" | "llama-server"; gpuLayers?: number; cpuMoeLayers?: number; extraArgs?: readonly string[] };
  /** Speculative decoding (models[].speculative); config models only. Defaults to none. */
  speculative?: SpeculativeOptions;
}

/**
 * A model's speculative decoding (docs/engine.md, "Speculative decoding"): a predictor drafts the next tokens, the
 * model checks them all in one evaluation and keeps those it would have generated itself, so that greedy output is
 * unchanged and several tokens may come out of one step.
 */
export interface SpeculativeOptions {
  /**
   * Where drafts come from.
   * - `ngram`: prompt lookup: the tokens that followed the last generated tokens where they occur in the prompt.
   * - `draft`: a smaller model with the same vocabulary (`draftModel`), loaded beside the model.
   */
  type: "ngram" | "draft";
  /** Path of the draft model's GGUF file; required with `type: "draft"`. */
  draftModel?: string;
  /** The most tokens drafted per step. Defaults to 16 for a draft model and 3 for prompt lookup (node-llama-cpp's). */
  maxDraftTokens?: number;
  /**
   * Draft model: the lowest probability a drafted token may have in the draft model; drafting stops below it. 0 to 1.
   * Above 0 it costs a full distribution per drafted token (about 45 ms on a 151,936-token vocabulary). Defaults to 0.
   */
  minConfidence?: number;
  /**
   * The acceptance rate under which speculation backs off, 0 to 1; 0 never backs off. In process drafting pauses for a
   * while; a llama-server worker is restarted without speculation (see `backOff`). Defaults to 0.3.
   */
  minAcceptance?: number;
  /**
   * llama-server workers: whether a window of `backOffWindowTokens` drafted tokens accepted below `minAcceptance`
   * restarts the worker without speculation until the model is reloaded (true), or only logs a warning (false). The
   * in-process engine always backs off. Defaults to true.
   */
  backOff?: boolean;
  /** llama-server workers: drafted tokens per window over which the acceptance is judged (`backOff`). Defaults to 512. */
  backOffWindowTokens?: number;
  /** Whether requests that do not say (`speculative` field) use it. Defaults to true. */
  byDefault?: boolean;
}

/** A loaded model as `ps` shows it. */
export interface LoadedModelInfo {
  id: string;
  /** The scheduler's memory estimate for it (weights, KV cache, compute buffers), bytes. */
  memoryBytes: number;
  /** Requests holding it now. */
  activeRequests: number;
  /** Sequences generating now. */
  sequencesInUse: number;
  /** When it unloads if it stays idle, epoch ms; `null` while in use or when kept forever. */
  expiresAtMs: number | null;
  /** When it was loaded, epoch ms. */
  loadedAtMs: number;
  /** Which engine serves it, where its weights sit, and its worker process when it has one. */
  engine: EngineDetails;
}

/** A held model: the backend stays loaded until `release`. */
export interface ModelLease {
  readonly backend: ModelBackend;
  /** Lets the model go; its keep-alive starts when no request holds it. Idempotent. */
  release(): void;
}

/**
 * The models a server answers for. The API layer holds a model for each request through `acquire` (which may load it
 * first); which models are loaded, and when, is the registry's business. Implemented by `ModelScheduler` (`src/engines/model-scheduler.ts`).
 */
export interface ModelRegistry {
  /** Every model that can be served (loaded or not). */
  listEntries(): Promise<ModelEntry[]>;
  /**
   * The entry a client's `model` names: the entry with that id, else the first with that alias.
   *
   * @throws {MoestroError} `model_not_found` (404, `param: "model"`) naming the models served.
   */
  findEntry(id: string): Promise<ModelEntry>;
  /** The loaded models. */
  listLoaded(): LoadedModelInfo[];
  /** The loaded backends. */
  loadedBackends(): ModelBackend[];
  /** Model loads since start. */
  readonly loadCount: number;
  /**
   * Holds a model for one request, loading it when needed. `keepAliveMs` is this request's keep-alive, which replaces the
   * model's: how long it stays loaded once idle, ms; negative, or longer than a timer holds (2^31 - 1 ms, about 24.8
   * days), keeps it loaded; 0 unloads it once idle. Defaults to the model's current keep-alive.
   *
   * @throws {MoestroError} `model_not_found` (404), `insufficient_memory` (503), or the reason a load failed.
   */
  acquire(id: string, options?: { signal?: AbortSignal; keepAliveMs?: number }): Promise<ModelLease>;
  /**
   * Loads a model and keeps it for its keep-alive (`keepAliveMs`, the model's when absent; as `acquire` reads it).
   *
   * @returns the model as loaded; `undefined` when it was unloaded again before this returned (`keepAliveMs` 0, or an
   *   `unload` that was waiting for it).
   * @throws {MoestroError} as `acquire`.
   */
  load(id: string, options?: { signal?: AbortSignal; keepAliveMs?: number }): Promise<LoadedModelInfo | undefined>;
  /** Unloads a model now, or when its last request ends; whether it was loaded. */
  unload(id: string): Promise<boolean>;
  /** Unloads every model. */
  dispose(): Promise<void>;
}
