import { pino } from "pino";
import type { ModelBackend, ModelEntry, ModelRegistry } from "../spec/index.js";
import { ModelScheduler } from "./model-scheduler.js";

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
    findEntry: (id) => scheduler.findEntry(id),
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
