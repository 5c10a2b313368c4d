/** How a failed upstream attempt is answered and counted (docs/gateway.md, "Health" and "Failover and retries"). */
import { MoestroError, isAbortError, type ErrorCode } from "../../errors/index.js";
import { UpstreamHttpError } from "../http/upstream-client.js";
import type { PoolMember, UpstreamTarget } from "./upstream-target.js";

/** Why one attempt failed, and whether the next upstream may be tried. */
export interface AttemptFailure {
  /** What the client gets when no later attempt succeeds. */
  error: MoestroError;
  /** What the upstream said, for the log only (a 5xx's or 429's body may hold its internals). */
  detail?: string;
  /** Whether the next upstream is tried. */
  retry: boolean;
}

/** The answer when every upstream left is waiting out a 429: 429 with the soonest `Retry-After`. */
export function rateLimitedError(modelId: string, target: PoolMember, nowMs: number): MoestroError {
  const seconds = Math.max(1, Math.ceil((target.availableAtMs(nowMs) - nowMs) / 1000));
  return new MoestroError(
    "upstream_rate_limited",
    `Every upstream of the model '${modelId}' is rate-limited (429); retry in ${seconds} s.`,
    {
      retryAfterSeconds: seconds,
    },
  );
}

/** moestro's codes an upstream (another moestro) may answer with, kept as they are for a 4xx. */
const passedThroughCodes = new Set<ErrorCode>(["context_length_exceeded", "invalid_request", "unsupported_parameter", "invalid_json"]);

/**
 * What one failed attempt means (docs/gateway.md, "Failover"), with the upstream's health updated: a 429 leaves it out
 * for its `Retry-After`; connection errors, timeouts, 5xx, 408, 401 and 403 (its key is wrong: another upstream may
 * take the request) and broken streams count as failures; a 404 means the model left it (its list is read again). The
 * request's own faults (other 4xx) are not retried.
 */
export function classifyFailure(error: unknown, target: UpstreamTarget, modelId: string): AttemptFailure {
  if (error instanceof UpstreamHttpError) {
    const { status } = error;
    const upstreamMessage = readErrorMessage(error.body);
    if (status === 429) {
      target.recordRateLimited(error.retryAfterSeconds);
      return {
        error: new MoestroError("upstream_rate_limited", `The upstream '${target.name}' is rate-limited (429).`, {
          retryAfterSeconds: Math.max(1, error.retryAfterSeconds ?? 1),
        }),
        retry: true,
        detail: upstreamMessage.message,
      };
    }
    if (status === 404) {
      void target.refreshModels();
      return {
        error: new MoestroError("model_not_found", `The upstream '${target.name}' does not serve the model '${modelId}' (404).`, {
          param: "model",
        }),
        retry: true,
      };
    }
    if (status >= 500 || status === 408 || status === 401 || status === 403) {
      target.recordFailure(`answered ${status}`);
      return {
        error: new MoestroError("upstream_failed", `The upstream '${target.name}' answered ${status}.`, {
          retryAfterSeconds: 1,
        }),
        detail: upstreamMessage.message,
        retry: true,
      };
    }
    const code: ErrorCode =
      upstreamMessage.code !== undefined && passedThroughCodes.has(upstreamMessage.code as ErrorCode)
        ? (upstreamMessage.code as ErrorCode)
        : /context length|context_length|maximum context|too many tokens/i.test(upstreamMessage.message)
          ? "context_length_exceeded"
          : "invalid_request";
    return { error: new MoestroError(code, upstreamMessage.message, { param: upstreamMessage.param }), retry: false };
  }
  if (error instanceof MoestroError) {
    if (error.code === "upstream_failed" || error.code === "upstream_timeout") {
      target.recordFailure(error.message);
      return { error, retry: true };
    }
    return { error, retry: false };
  }
  // Refused or reset connections, DNS failures, a body that is not JSON: the upstream is at fault.
  const reason = (error as Error)?.message ?? String(error);
  target.recordFailure(reason);
  return {
    error: new MoestroError("upstream_failed", `The upstream '${target.name}' failed: ${isAbortError(error) ? "aborted" : reason}`, {
      retryAfterSeconds: 1,
      cause: error,
    }),
    retry: true,
  };
}

/** The message, code and param of an upstream's error body (OpenAI's `{"error": {...}}`, or any text). */
function readErrorMessage(body: string): { message: string; code?: string; param?: string } {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown; code?: unknown; param?: unknown } | string; message?: unknown };
    const error = parsed.error;
    if (typeof error === "string") return { message: error };
    if (error !== undefined && typeof error.message === "string")
      return {
        message: error.message,
        code: typeof error.code === "string" ? error.code : undefined,
        param: typeof error.param === "string" ? error.param : undefined,
      };
    if (typeof parsed.message === "string") return { message: parsed.message };
  } catch {
    // Not JSON: the text itself, cut.
  }
  return { message: body.slice(0, 300) || "(no body)" };
}
