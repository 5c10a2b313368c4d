import type { Context } from "hono";
import type { GenerateRequest, ModelBackend, ModelLease } from "../../spec/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";
import { startChoices, type ChoiceParts } from "./generation.js";
import { generationAdmission, RequestMeter } from "./request-meter.js";

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

/** An abort controller for one request's generation, linked to the client's connection and the server's shutdown. */
export class RequestAbortController extends AbortController {
  readonly #detachers: Array<() => void> = [];

  /** @internal Links `signal` to this controller until `detach`. */
  link(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    if (signal.aborted) {
      this.abort(signal.reason);
      return;
    }
    const onAbort = () => this.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    this.#detachers.push(() => signal.removeEventListener("abort", onAbort));
  }

  /** Unlinks the long-lived signals (the server's shutdown), so that a finished request leaves no listener behind. Idempotent. */
  detach(): void {
    for (const detach of this.#detachers.splice(0)) detach();
  }
}

/**
 * An abort controller for the request's generation: it aborts when the client's connection closes (the Node adapter
 * aborts the request's signal then), when the server's shutdown grace period ends, or when the route calls `abort()` (a
 * streaming client went away). The route must call `detach()` when the request ends.
 */
export function requestSignal(c: Context<AppEnv>, deps?: AppDeps): RequestAbortController {
  const controller = new RequestAbortController();
  controller.link(c.req.raw.signal);
  controller.link(deps?.shutdownSignal);
  return controller;
}

/** A generation admitted for a request: its model, its parts, its abort controller, and its usage meter. */
export interface StartedGeneration {
  backend: ModelBackend;
  parts: ChoiceParts;
  abort: RequestAbortController;
  /** The request's meter, its admission reported (its `running` row written, its budget reservation taken). */
  meter: RequestMeter;
}

/**
 * Holds the model (loading it if needed), admits the first of `n` choices, and reports the admission to the usage
 * meter (which reserves the worst case, prompt plus `n × max_tokens` or the context's remainder, against the key's
 * budget). From here on the model lease and the abort controller are released exactly once: when the parts end or are
 * closed, or at once when this throws.
 *
 * @throws {MoestroError} `model_not_found`, `insufficient_memory`, `context_length_exceeded`, `server_busy` (what
 *   acquiring the model and admitting the generation throw); `insufficient_quota` when the key's budget cannot cover
 *   the request's worst case.
 */
export async function startGeneration(
  c: Context<AppEnv>,
  deps: AppDeps,
  options: {
    model: string;
    keepAliveMs?: number;
    request: GenerateRequest;
    n: number;
    endpoint: "chat.completions" | "completions";
    stream: boolean;
  },
): Promise<StartedGeneration> {
  const abort = requestSignal(c, deps);
  options.request.signal = abort.signal;
  const lease = await acquireModel(deps, options.model, { signal: abort.signal, keepAliveMs: options.keepAliveMs }).catch(
    (error: unknown) => {
      abort.detach();
      throw error;
    },
  );
  const parts = await startChoices(lease.backend, options.request, options.n, () => {
    lease.release();
    abort.detach();
  });
  const { info } = lease.backend;
  const meter = new RequestMeter(deps, c, { model: info.id, endpoint: options.endpoint, stream: options.stream });
  const admission = {
    promptTokens: parts.promptTokens,
    contextTokens: info.contextTokens,
    maxTokens: options.request.maxTokens,
    n: options.n,
  };
  try {
    await meter.start(generationAdmission(admission));
  } catch (error) {
    await parts.return(undefined);
    throw error;
  }
  return { backend: lease.backend, parts, abort, meter };
}
