import type { WireError } from "../openai/wire.js";

/**
 * Anthropic's error body (Anthropic API reference, "Errors"): `{"type": "error", "error": {"type", "message"}}`, with
 * the request id beside it as Anthropic sends it.
 */
export interface AnthropicWireError {
  type: "error";
  error: { type: AnthropicErrorType; message: string };
  request_id?: string;
}

/** The error types Anthropic documents, each with its one HTTP status ("Errors", HTTP errors). */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

/** moestro's codes that say "busy, retry": Anthropic answers them as 529 `overloaded_error`, which its clients retry. */
const overloadedCodes = new Set([
  "server_busy",
  "server_unavailable",
  "server_shutting_down",
  "insufficient_memory",
  "worker_failed",
  "upstream_failed",
  "upstream_timeout",
]);

/**
 * Translates moestro's error (its OpenAI body and status, from `toWireError`) into Anthropic's: the type follows from
 * the status as Anthropic's table gives it (400 `invalid_request_error`, 401 `authentication_error`, 403
 * `permission_error`, 404 `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`, 500 `api_error`, 529
 * `overloaded_error`), so the status always matches the type (case D08). Busy and unavailable answers (503, 502) become
 * 529 `overloaded_error`; every other 5xx becomes 500 `api_error`; a 4xx Anthropic has no type for becomes 400.
 *
 * @param status the status moestro would answer with.
 * @param body moestro's OpenAI error body; its `code` picks the busy case, its `message` is kept.
 */
export function toAnthropicError(status: number, body: WireError, requestId: string): { status: number; body: AnthropicWireError } {
  const byStatus: Record<number, AnthropicErrorType> = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
  };
  let type: AnthropicErrorType;
  let anthropicStatus: number;
  if (status >= 500) {
    const overloaded = overloadedCodes.has(body.error.code ?? "");
    type = overloaded ? "overloaded_error" : "api_error";
    anthropicStatus = overloaded ? 529 : 500;
  } else {
    type = byStatus[status] ?? "invalid_request_error";
    anthropicStatus = byStatus[status] === undefined ? 400 : status;
  }
  return { status: anthropicStatus, body: { type: "error", error: { type, message: body.error.message }, request_id: requestId } };
}
