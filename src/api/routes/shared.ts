import type { Context } from "hono";
import type { ModelLease } from "../../engine/model-scheduler.js";
import type { AppDeps, AppEnv } from "../app-env.js";

/**
 * Holds the model a request names for as long as the request runs, loading it first when needed (a request for a model
 * that is loading waits for it). The caller must `release` the lease when the response is done.
 *
 * @throws {MoestroError} `model_not_found` (404) when no model has that id or alias; `insufficient_memory` (503);
 *   the reason a load failed.
 */
export async function acquireModel(deps: AppDeps, id: string, options: { signal: AbortSignal; keepAliveMs?: number }): Promise<ModelLease> {
  return await deps.models.acquire(id, options);
}

/**
 * An abort controller for the request's generation: it aborts when the client's connection closes (the Node adapter
 * aborts the request's signal then) or when the route calls `abort()` (a streaming client went away).
 */
export function requestSignal(c: Context<AppEnv>, deps?: AppDeps): AbortController {
  const controller = new AbortController();
  for (const signal of [c.req.raw.signal, deps?.shutdownSignal]) {
    if (signal === undefined) continue;
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  }
  return controller;
}
