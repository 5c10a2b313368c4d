/**
 * The catalog of moestro's stable error codes.
 *
 * Each code maps to the HTTP status and the OpenAI error `type` it is sent with. The OpenAI SDKs choose their error class
 * from the HTTP status alone (openai-node `src/core/error.ts`), so the status is part of the contract: 400 →
 * `BadRequestError`, 401 → `AuthenticationError`, 404 → `NotFoundError`, 413 → `APIError`, 429 → `RateLimitError`,
 * 503 → `InternalServerError`. Where OpenAI has a code of its own (`context_length_exceeded`, `model_not_found`,
 * `rate_limit_exceeded`) the same string is used.
 */
export const errorCodes = {
  /** The body is not valid JSON. */
  invalid_json: { status: 400, type: "invalid_request_error" },
  /** A field is missing, has the wrong type, or is out of range; `param` names it. */
  invalid_request: { status: 400, type: "invalid_request_error" },
  /** A known OpenAI option that this server or this model cannot honour; `param` names it. Never silently ignored. */
  unsupported_parameter: { status: 400, type: "invalid_request_error" },
  /** The prompt (plus `max_tokens` when given) does not fit the model's context window. */
  context_length_exceeded: { status: 400, type: "invalid_request_error" },
  /** The `model` of a request is not served here. */
  model_not_found: { status: 404, type: "invalid_request_error" },
  /** No route matches the method and path. */
  not_found: { status: 404, type: "invalid_request_error" },
  /** The request body is larger than the configured limit. */
  request_too_large: { status: 413, type: "invalid_request_error" },
  /** The request queue for a model is full; retry after `Retry-After` seconds. */
  server_busy: { status: 503, type: "server_error" },
  /** The server is starting or stopping. */
  server_unavailable: { status: 503, type: "server_error" },
  /** An unexpected failure; the message sent to the client is generic and carries the request id. */
  internal_error: { status: 500, type: "server_error" },
} as const satisfies Record<string, { status: number; type: string }>;

/** One of the stable error codes of {@link errorCodes}. */
export type ErrorCode = keyof typeof errorCodes;
