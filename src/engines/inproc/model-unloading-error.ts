import { MoestroError } from "../../errors/index.js";

/**
 * The error of a request that reaches a model while it unloads (evicted, unloaded on request, or at shutdown): 503
 * `server_unavailable` with `Retry-After: 1`, since a retry loads the model again or finds another.
 */
export function modelUnloadingError(): MoestroError {
  return new MoestroError("server_unavailable", "The model is being unloaded.", { retryAfterSeconds: 1 });
}
