import type { Context } from "hono";
import type { ModelRegistry } from "../../engine/model-registry.js";
import { MoestroError } from "../../errors/index.js";
import type { ModelBackend } from "../../spec/index.js";
import type { AppEnv } from "../app-env.js";

/**
 * The backend serving `id`.
 *
 * @throws {MoestroError} `model_not_found` (404) when no model has that id.
 */
export function findModel(models: ModelRegistry, id: string): ModelBackend {
  const backend = models.get(id);
  if (backend === undefined) {
    const known = models.list().map((model) => `'${model.info.id}'`).join(", ");
    throw new MoestroError("model_not_found", `The model '${id}' does not exist. Models served here: ${known || "none"}.`, { param: "model" });
  }
  return backend;
}

/**
 * An abort controller for the request's generation: it aborts when the client's connection closes (the Node adapter
 * aborts the request's signal then) or when the route calls `abort()` (a streaming client went away).
 */
export function requestSignal(c: Context<AppEnv>): AbortController {
  const controller = new AbortController();
  const clientSignal = c.req.raw.signal;
  if (clientSignal.aborted) controller.abort(clientSignal.reason);
  else clientSignal.addEventListener("abort", () => controller.abort(clientSignal.reason), { once: true });
  return controller;
}
