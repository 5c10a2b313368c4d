import { pino } from "pino";
import type { ModelBackend } from "../spec/index.js";
import { ModelScheduler, type LoadedModelInfo, type ModelEntry, type ModelLease } from "./model-scheduler.js";

/**
 * The models a server answers for. The API layer holds a model for each request through `acquire` (which may load it
 * first); which models are loaded, and when, is the registry's business. Implemented by {@link ModelScheduler}.
 */
export interface ModelRegistry {
  /** Every model that can be served (loaded or not). */
  listEntries(): Promise<ModelEntry[]>;
  /** The loaded models. */
  listLoaded(): LoadedModelInfo[];
  /** The loaded backends. */
  loadedBackends(): ModelBackend[];
  /** Model loads since start. */
  readonly loadCount: number;
  /**
   * Holds a model for one request, loading it when needed.
   *
   * @throws {MoestroError} `model_not_found` (404), `insufficient_memory` (503), or the reason a load failed.
   */
  acquire(id: string, options?: { signal?: AbortSignal; keepAliveMs?: number }): Promise<ModelLease>;
  /** Loads a model and keeps it for its keep-alive. */
  load(id: string, options?: { signal?: AbortSignal; keepAliveMs?: number }): Promise<LoadedModelInfo>;
  /** Unloads a model now, or when its last request ends; whether it was loaded. */
  unload(id: string): Promise<boolean>;
  /** Unloads every model. */
  dispose(): Promise<void>;
}

/**
 * A registry over models already loaded (tests and embedding): they stay loaded until `dispose`, and `unload` is a
 * no-op that reports them loaded.
 *
 * @throws {Error} when two models share an id.
 */
export function createStaticModelRegistry(backends: readonly ModelBackend[]): ModelRegistry {
  const byId = new Map<string, ModelBackend>();
  for (const backend of backends) {
    if (byId.has(backend.info.id)) throw new Error(`Two models have the id '${backend.info.id}'; give one an alias (--model NAME=PATH).`);
    byId.set(backend.info.id, backend);
  }
  const entries: ModelEntry[] = backends.map((backend) => ({ id: backend.info.id, path: backend.info.path, source: "config" }));
  const scheduler = new ModelScheduler({
    listEntries: async () => entries,
    loadModel: async (entry) => byId.get(entry.id)!,
    estimateMemoryBytes: async () => 0,
    maxMemoryBytes: Number.MAX_SAFE_INTEGER,
    defaultKeepAliveMs: -1,
    logger: pino({ level: "silent" }),
  });
  return {
    listEntries: () => scheduler.listEntries(),
    listLoaded: () => scheduler.listLoaded(),
    loadedBackends: () => [...byId.values()],
    get loadCount() {
      return scheduler.loadCount;
    },
    acquire: (id, options) => scheduler.acquire(id, { signal: options?.signal }),
    load: (id, options) => scheduler.load(id, { signal: options?.signal }),
    unload: async (id) => byId.has(id),
    dispose: async () => {
      await Promise.all(backends.map((backend) => backend.dispose()));
    },
  };
}
