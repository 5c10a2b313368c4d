import type { Logger } from "pino";
import { MoestroError } from "../errors/index.js";
import type { LoadedModelInfo, ModelBackend, ModelEntry, ModelLease, UpstreamInfo } from "../spec/index.js";
import { maxTimerDelayMs } from "../util/duration.js";
import { entryNamed } from "../models/entry-named.js";
import { formatBytes } from "../util/size-units.js";

/** What the scheduler needs from the outside: all hardware, files and time come through here (tests swap them). */
export interface ModelSchedulerDeps {
  /** Loads a model. */
  loadModel(entry: ModelEntry): Promise<ModelBackend>;
  /** Estimates the memory a model needs once loaded, bytes (node-llama-cpp's GgufInsights for the configured context). */
  estimateMemoryBytes(entry: ModelEntry): Promise<number>;
  /** The models that exist now (config plus the store, read again on each call so that a pull is seen). */
  listEntries(): Promise<ModelEntry[]>;
  /** The memory budget, bytes: loads that would go over it evict idle models first, and are refused if still over. */
  maxMemoryBytes: number;
  /**
   * How long an idle model stays loaded, ms; negative keeps it forever, and so does a value past what a timer holds
   * (`maxTimerDelayMs`, about 24.8 days); 0 unloads it after each request. Defaults to 5 minutes.
   */
  defaultKeepAliveMs?: number;
  logger: Logger;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
  /** Timer functions. Default to the global ones. */
  setTimer?: (callback: () => void, delayMs: number) => unknown;
  clearTimer?: (timer: unknown) => void;
  /**
   * The configured upstreams' state (docs/gateway.md), for the answer to a model nobody serves: with upstreams, it names
   * those ejected (whose models may be missing, a 401 on their list included) with the reason, and suggests no pull.
   * Defaults to none.
   */
  upstreams?: () => readonly UpstreamInfo[];
  /**
   * Whether a model stays loaded for good once loaded (a pool of upstreams alone: it holds no memory here,
   * docs/gateway.md): its keep-alive is forever whatever a request or a load asks, memory pressure never evicts it,
   * and {@link ModelScheduler.unload} refuses it. Defaults to none.
   */
  keepsLoaded?: (entry: ModelEntry) => boolean;
}

interface LoadedModel {
  entry: ModelEntry;
  backend: ModelBackend;
  memoryBytes: number;
  refCount: number;
  keepAliveMs: number;
  expiresAtMs: number | null;
  timer: unknown;
  loadedAtMs: number;
}

/** Default keep-alive: 5 minutes, as Ollama's. */
export const defaultKeepAliveMs = 5 * 60 * 1000;

/**
 * Decides which models are loaded, after Ollama's scheduler (`server/sched.go`): a model loads on first use (one load
 * at a time), is held by each request that uses it (a reference count), and unloads when it has been idle for its
 * keep-alive. A load that would go over the memory budget first evicts idle models (those expiring soonest first);
 * when busy models are in the way it waits for them to finish; when the model cannot fit even alone it is refused with
 * the memory needed and available, and nothing is loaded. Requests that differ only in sampling options never reload
 * a model (case C25, docs/compat-cases.md). A keep-alive that is negative, or longer than a timer holds
 * (`maxTimerDelayMs`, about 24.8 days), keeps the model loaded: whether it comes from the config or a request.
 */
export class ModelScheduler {
  readonly #deps: ModelSchedulerDeps;
  readonly #loaded = new Map<string, LoadedModel>();
  readonly #loading = new Map<string, Promise<LoadedModel>>();
  #loadQueue: Promise<unknown> = Promise.resolve();
  #releaseWaiters: Array<() => void> = [];
  #loads = 0;
  #disposed = false;

  constructor(deps: ModelSchedulerDeps) {
    this.#deps = deps;
  }

  /** Loads since start (a reload counts), for metrics and tests. */
  get loadCount(): number {
    return this.#loads;
  }

  /** Every model that can be served, with its aliases. */
  async listEntries(): Promise<ModelEntry[]> {
    return await this.#deps.listEntries();
  }

  /** The loaded models. */
  listLoaded(): LoadedModelInfo[] {
    return [...this.#loaded.values()].map((model) => ({
      id: model.entry.id,
      memoryBytes: countedBytes(model),
      activeRequests: model.refCount,
      sequencesInUse: model.backend.stats().sequencesInUse,
      expiresAtMs: model.refCount > 0 ? null : model.expiresAtMs,
      loadedAtMs: model.loadedAtMs,
      engine: model.backend.engine(),
    }));
  }

  /** The loaded backends (for metrics). */
  loadedBackends(): ModelBackend[] {
    return [...this.#loaded.values()].map((model) => model.backend);
  }

  /**
   * Holds a model for one request, loading it first when needed (a request for a model that is loading waits for it).
   *
   * @param options.keepAliveMs this request's keep-alive (Ollama's `keep_alive`); it replaces the model's (not that of a
   *   model kept loaded for good, `keepsLoaded`). Defaults to the model's current one, or the default for a new load.
   * @throws {MoestroError} `model_not_found` (404) for an unknown id; `insufficient_memory` (503) when the model cannot
   *   fit the budget; the error of a failed load, with its reason; the signal's reason when aborted while waiting.
   */
  async acquire(id: string, options: { signal?: AbortSignal; keepAliveMs?: number } = {}): Promise<ModelLease> {
    if (this.#disposed) throw new MoestroError("server_unavailable", "The server is shutting down.", { retryAfterSeconds: 1 });
    // The hot path: a loaded model is found without listing the config and the store again.
    let model = this.#findLoaded(id);
    const entry = model?.entry ?? (await this.findEntry(id));
    model ??= this.#loaded.get(entry.id);
    if (model === undefined) {
      let loading = this.#loading.get(entry.id);
      if (loading === undefined) {
        loading = this.#enqueueLoad(entry, options.signal, options.keepAliveMs);
        this.#loading.set(entry.id, loading);
        void loading.finally(() => this.#loading.delete(entry.id)).catch(() => undefined);
      }
      model = await loading;
    }
    this.#hold(model, options.keepAliveMs);
    let released = false;
    return {
      backend: model.backend,
      release: () => {
        if (released) return;
        released = true;
        this.#release(model);
      },
    };
  }

  /**
   * Loads a model and keeps it for `keepAliveMs` (without a request), as `POST /v1/moestro/models/load` asks.
   *
   * @returns the model as loaded, its keep-alive started; `undefined` when it was unloaded again before this returned:
   *   `keepAliveMs` 0 (unload once idle, which it is at once) or an `unload` that waited for requests holding it.
   * @throws as {@link acquire}.
   */
  async load(id: string, options: { signal?: AbortSignal; keepAliveMs?: number } = {}): Promise<LoadedModelInfo | undefined> {
    const lease = await this.acquire(id, options);
    lease.release();
    return this.listLoaded().find((model) => model.id === lease.backend.info.id);
  }

  /**
   * Unloads a model now if no request holds it, or as soon as the last one ends.
   *
   * @returns whether it was loaded.
   * @throws {MoestroError} `model_not_found` (404) for an unknown id; `invalid_request` (400, `param: "model"`) for a
   *   model kept loaded for good (`keepsLoaded`: a pool of upstreams alone).
   */
  async unload(id: string): Promise<boolean> {
    const entry = await this.findEntry(id);
    if (this.#deps.keepsLoaded?.(entry) === true)
      throw new MoestroError(
        "invalid_request",
        `The model '${entry.id}' is a pool of upstreams alone: it holds no memory here and is never unloaded (docs/gateway.md, "Pools"). Stop serving it by removing its upstreams (--upstream) and restarting.`,
        { param: "model" },
      );
    const model = this.#loaded.get(entry.id);
    if (model === undefined) return false;
    model.keepAliveMs = 0;
    if (model.refCount === 0) await this.#evict(model, "unloaded on request");
    return true;
  }

  /** Unloads every model; later calls to acquire fail. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await Promise.allSettled([...this.#loading.values()]);
    await Promise.all([...this.#loaded.values()].map((model) => this.#evict(model, "shutdown")));
  }

  #findLoaded(id: string): LoadedModel | undefined {
    const byId = this.#loaded.get(id);
    if (byId) return byId;
    for (const model of this.#loaded.values()) if (model.entry.aliases?.includes(id)) return model;
    return undefined;
  }

  /**
   * The entry of a model id, else of the first entry with that alias.
   *
   * @throws {MoestroError} `model_not_found` (404, `param: "model"`) naming the models served.
   */
  async findEntry(id: string): Promise<ModelEntry> {
    const entries = await this.#deps.listEntries();
    const entry = entryNamed(id, entries);
    if (entry === undefined) {
      const known = entries.map((candidate) => `'${candidate.id}'`).join(", ");
      const upstreams = this.#deps.upstreams?.() ?? [];
      // A gateway's models come from its upstreams: one that cannot be read (down, or refusing the gateway's key) may
      // serve it, and pulling it here is not the answer.
      const unread = upstreams
        .filter((upstream) => upstream.state === "ejected")
        .map((upstream) => `'${upstream.name}' (${upstream.reason ?? "ejected"})`);
      const hint =
        upstreams.length === 0
          ? " (pull one with moestro pull)"
          : unread.length > 0
            ? `. Upstreams that cannot be read now: ${unread.join("; ")}`
            : "";
      throw new MoestroError("model_not_found", `The model '${id}' does not exist. Models served here: ${known || "none"}${hint}.`, {
        param: "model",
      });
    }
    return entry;
  }

  /** Loads one model at a time, in arrival order. */
  #enqueueLoad(entry: ModelEntry, signal: AbortSignal | undefined, keepAliveMs: number | undefined): Promise<LoadedModel> {
    const run = this.#loadQueue.then(() => this.#load(entry, signal, keepAliveMs));
    this.#loadQueue = run.catch(() => undefined);
    return run;
  }

  async #load(entry: ModelEntry, signal: AbortSignal | undefined, keepAliveMs: number | undefined): Promise<LoadedModel> {
    const existing = this.#loaded.get(entry.id);
    if (existing) return existing;
    const memoryBytes = await this.#deps.estimateMemoryBytes(entry);
    const budget = this.#deps.maxMemoryBytes;
    if (memoryBytes > budget) {
      throw new MoestroError(
        "insufficient_memory",
        `The model '${entry.id}' needs about ${formatBytes(memoryBytes)} of memory, but the budget is ${formatBytes(budget)} (--max-memory). Use a smaller quantization or context, or raise the budget.`,
        { param: "model" },
      );
    }
    // Make room: idle models first, those expiring soonest first; then wait for busy ones to finish.
    while (this.#usedBytes() + memoryBytes > budget) {
      const idle = [...this.#loaded.values()]
        .filter((model) => model.refCount === 0 && this.#deps.keepsLoaded?.(model.entry) !== true)
        .sort((a, b) => (a.expiresAtMs ?? Infinity) - (b.expiresAtMs ?? Infinity));
      if (idle.length > 0) {
        await this.#evict(idle[0]!, `evicted to make room for '${entry.id}'`);
        continue;
      }
      this.#deps.logger.info(
        { model: entry.id, neededBytes: memoryBytes, usedBytes: this.#usedBytes(), budgetBytes: budget },
        "waiting for busy models to finish before loading",
      );
      await this.#waitForRelease(signal);
    }
    const startedAt = performance.now();
    const backend = await this.#deps.loadModel(entry);
    this.#loads++;
    const model: LoadedModel = {
      entry,
      backend,
      memoryBytes,
      refCount: 0,
      keepAliveMs: this.#deps.keepsLoaded?.(entry) === true ? -1 : (keepAliveMs ?? this.#deps.defaultKeepAliveMs ?? defaultKeepAliveMs),
      expiresAtMs: null,
      timer: undefined,
      loadedAtMs: this.#now(),
    };
    this.#loaded.set(entry.id, model);
    this.#deps.logger.info({ model: entry.id, memoryBytes, loadMs: Math.round(performance.now() - startedAt) }, "model loaded");
    return model;
  }

  #hold(model: LoadedModel, keepAliveMs: number | undefined): void {
    model.refCount++;
    // A model kept loaded for good keeps "forever" whatever a request's keep_alive says.
    if (keepAliveMs !== undefined && this.#deps.keepsLoaded?.(model.entry) !== true) model.keepAliveMs = keepAliveMs;
    if (model.timer !== undefined) (this.#deps.clearTimer ?? clearTimeout)(model.timer as ReturnType<typeof setTimeout>);
    model.timer = undefined;
    model.expiresAtMs = null;
  }

  #release(model: LoadedModel): void {
    model.refCount--;
    if (model.refCount > 0) return;
    const waiters = this.#releaseWaiters;
    this.#releaseWaiters = [];
    for (const wake of waiters) wake();
    // Forever: negative, or past what a timer holds (a longer delay would fire after 1 ms and unload the model).
    if (model.keepAliveMs < 0 || model.keepAliveMs > maxTimerDelayMs) return;
    if (model.keepAliveMs === 0) {
      void this.#evict(model, "keep_alive 0");
      return;
    }
    model.expiresAtMs = this.#now() + model.keepAliveMs;
    model.timer = (this.#deps.setTimer ?? setTimeout)(() => {
      if (model.refCount === 0 && this.#loaded.get(model.entry.id) === model) void this.#evict(model, "keep-alive expired");
    }, model.keepAliveMs);
  }

  async #evict(model: LoadedModel, reason: string): Promise<void> {
    if (this.#loaded.get(model.entry.id) !== model) return;
    this.#loaded.delete(model.entry.id);
    if (model.timer !== undefined) (this.#deps.clearTimer ?? clearTimeout)(model.timer as ReturnType<typeof setTimeout>);
    this.#deps.logger.info({ model: model.entry.id, reason }, "model unloaded");
    await model.backend.dispose();
  }

  #waitForRelease(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted();
      const onAbort = () => reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#releaseWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  #usedBytes(): number {
    let total = 0;
    for (const model of this.#loaded.values()) total += countedBytes(model);
    return total;
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }
}

/**
 * The memory the scheduler counts for a loaded model, bytes: its estimate at load, less what its backend freed since
 * (`releasedMemoryBytes`: a worker's draft model after a back-off). A load waiting for room sees it at its next check
 * (when a request releases a model), not at once.
 */
function countedBytes(model: LoadedModel): number {
  return Math.max(0, model.memoryBytes - (model.backend.releasedMemoryBytes?.() ?? 0));
}
