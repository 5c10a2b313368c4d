import type { ModelBackend } from "../spec/index.js";

/**
 * The models a server answers for, by id. The API layer only reads it; which models are loaded, and when, is the
 * registry's business.
 */
export interface ModelRegistry {
  /** The backend serving `id`, or `undefined` when no model has that id. */
  get(id: string): ModelBackend | undefined;
  /** Every served model, in the order they were given. */
  list(): readonly ModelBackend[];
  /** Disposes every model. */
  dispose(): Promise<void>;
}

/**
 * A registry over a fixed set of loaded models.
 *
 * @throws {Error} when two models share an id.
 */
export function createStaticModelRegistry(backends: readonly ModelBackend[]): ModelRegistry {
  const byId = new Map<string, ModelBackend>();
  for (const backend of backends) {
    if (byId.has(backend.info.id)) throw new Error(`Two models have the id '${backend.info.id}'; give one an alias (--model NAME=PATH).`);
    byId.set(backend.info.id, backend);
  }
  return {
    get: (id) => byId.get(id),
    list: () => [...byId.values()],
    dispose: async () => {
      await Promise.all(backends.map((backend) => backend.dispose()));
    },
  };
}
